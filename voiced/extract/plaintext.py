"""Plain text to blocks: blank lines separate paragraphs; chapter lines mark sections.

A line such as "CHAPTER IV" or "Chapter 12" standing alone is not prose, but it
is where a new section of the book begins, so it becomes a heading.
"""

from __future__ import annotations

from collections.abc import Iterator

from voiced.extract.prose import Block, Heading, Paragraph, is_chapter_line, normalise_whitespace, paragraphs_from_lines


def blocks(text: str) -> Iterator[Block]:
    """Paragraphs of a plain-text file, with chapter-number lines as headings."""
    for paragraph in paragraphs_from_lines(text.split("\n")):
        if is_chapter_line(paragraph.text):
            yield Heading(1, normalise_whitespace(paragraph.text))
        else:
            yield Paragraph(paragraph.text)
