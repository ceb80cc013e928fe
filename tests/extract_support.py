"""Helpers for the extraction tests: real Austen paragraphs and zip-built documents."""

from __future__ import annotations

import zipfile
from pathlib import Path

from data_support import austen_paragraphs

from voiced.config import ExtractionSettings


def settings(**changes: int) -> ExtractionSettings:
    return ExtractionSettings(**changes)


def austen(count: int, *, book: str = "persuasion", start: int = 0, words: tuple[int, int] = (25, 120)) -> list[str]:
    """``count`` whole paragraphs of an Austen novel (whitespace-normalised), each of a moderate length."""
    low, high = words
    chosen = [
        p
        for p in austen_paragraphs(book, min_words=1)
        if low <= len(p.split()) <= high and "_" not in p and "*" not in p
    ]
    assert len(chosen) >= start + count, "the Austen corpus is shorter than the test expects"
    return chosen[start : start + count]


def wrap(paragraph: str, width: int = 72) -> str:
    """Hard-wrap a paragraph the way a text editor or Gutenberg does."""
    lines: list[str] = []
    line = ""
    for word in paragraph.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path
