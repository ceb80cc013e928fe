"""Rebuild the corpus from the writing folders: set the old database aside and read everything again.

The corpus holds nothing the folders do not, so this loses no prose; what it
forgets is when each paragraph first appeared (every word counts as new for
the retraining trigger once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from voiced.config import Config
from voiced.corpus.damage import move_aside
from voiced.corpus.scanner import Progress, ScanReport, scan
from voiced.corpus.store import CorpusStore
from voiced.paths import Paths, get_paths


@dataclass
class Rebuilt:
    moved_to: Path | None  # where the old database went (None: there was none)
    reports: list[ScanReport] = field(default_factory=list)


def rebuild_corpus(config: Config, paths: Paths | None = None, progress: Progress | None = None) -> Rebuilt:
    """Move the database aside (kept, renamed with the time) and scan every voice into a new one.

    No other process may have the database open (the daemon, `voiced watch`): it would keep
    writing to the file set aside.
    """
    paths = paths or get_paths()
    moved = move_aside(paths.corpus_db) if paths.corpus_db.exists() else None
    with CorpusStore.open(paths) as store:
        return Rebuilt(moved, scan(store, config, progress=progress))
