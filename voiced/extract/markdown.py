"""Markdown and Obsidian notes to blocks.

The note is read by ``voiced.markdown_reader`` (a CommonMark parser, the same
reader the rewrite's chunking uses), which keeps only paragraphs and headings:
front matter, code, tables, math, comments, footnote definitions, HTML blocks
and callout markers never reach here. What is left to decide is which
paragraphs are prose: one whose words are mostly link texts is navigation.
"""

from __future__ import annotations

from collections.abc import Iterator

from voiced.extract.prose import Block, Heading, Paragraph, close_gaps
from voiced.markdown_reader import HEADING, read, words


def blocks(text: str) -> Iterator[Block]:
    """Headings and prose paragraphs of a Markdown note, in order."""
    for block in read(text).blocks:
        shown, linked = words(block)
        if block.kind == HEADING:
            yield Heading(block.level, " ".join(shown.split()))
        elif shown.strip() and not _mostly_links(shown, linked):
            yield Paragraph(close_gaps(shown))


def _mostly_links(text: str, linked: int) -> bool:
    """A paragraph whose words are mostly link texts is navigation (a map of notes), not prose."""
    return linked * 2 > len(text.split())
