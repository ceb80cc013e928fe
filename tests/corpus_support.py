"""Helpers for the corpus tests (their fixtures, a writing folder ``notes`` and a real ``store``, are in conftest)."""

from __future__ import annotations

from pathlib import Path

from voiced.corpus import CorpusStore


def texts(store: CorpusStore, voice: str = "v") -> dict[str, list[str]]:
    """Kept passage texts by file name: what the trainer would read."""
    return {Path(d.path).name: [p.text for p in d.passages] for d in store.documents_with_passages(voice)}
