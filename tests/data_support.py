"""Where the tests' data lives: the repository's own, and the team's shared folder beside it.

The only data from outside the repository is ``../shared`` (:data:`SHARED`): the public-domain
novels in ``corpora/`` (Austen, Anne and Emily Brontë) and the design notes. CI always has it,
so a missing file fails the test that needs it with a message naming the folder, never a skip.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_CORPUS = REPO / "examples" / "demo-corpus"
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
AUSTEN = CORPORA / "austen"


def shared(*parts: str) -> Path:
    """A path under ``../shared`` that must exist: its absence fails the test, saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"{path} is missing: the tests read the team's shared folder {SHARED}, which must sit beside "
            f"the repository (CI has it; see tests/README.md).",
            pytrace=False,
        )
    return path


@cache
def _austen_blocks(novel: str) -> tuple[str, ...]:
    text = shared("corpora", "austen", f"{novel}.txt").read_text(encoding="utf-8")
    return tuple(" ".join(block.split()) for block in text.split("\n\n"))


def austen_paragraphs(novel: str = "persuasion", min_words: int = 8) -> list[str]:
    """Whitespace-normalised paragraphs of an Austen novel with at least ``min_words`` words, in order."""
    return [p for p in _austen_blocks(novel) if len(p.split()) >= max(min_words, 1)]
