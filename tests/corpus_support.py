"""Fixtures and helpers shared by the corpus tests: a writing folder, a real store, what it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voiced.corpus import CorpusStore


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """An empty writing folder."""
    folder = tmp_path / "notes"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CorpusStore]:
    """A real corpus database in the test's temp dir."""
    with CorpusStore(tmp_path / "corpus.sqlite3") as opened:
        yield opened


def texts(store: CorpusStore, voice: str = "v") -> dict[str, list[str]]:
    """Kept passage texts by file name: what the trainer would read."""
    return {Path(d.path).name: [p.text for p in d.passages] for d in store.documents_with_passages(voice)}
