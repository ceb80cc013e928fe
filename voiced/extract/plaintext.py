"""Plain text to blocks: blank lines separate paragraphs; chapter lines mark sections.

A line such as "VOLUME II", "CHAPTER IV" or "Chapter 12" standing alone is not
prose, but it is where a new section of the book begins, so it becomes a
heading (volumes and books above chapters, scenes and sections below).
"""

from __future__ import annotations

from collections.abc import Iterator

from voiced.extract.prose import Block, Heading, Paragraph, chapter_level, normalise_whitespace, paragraphs_from_lines


def blocks(text: str) -> Iterator[Block]:
    """Paragraphs of a plain-text file, with chapter-number lines as headings."""
    for paragraph in paragraphs_from_lines(text.split("\n")):
        level = chapter_level(paragraph.text)
        if level is not None:
            yield Heading(level, normalise_whitespace(paragraph.text))
        else:
            yield Paragraph(paragraph.text)
