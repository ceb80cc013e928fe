"""Plain text to blocks: blank lines separate paragraphs; chapter lines mark sections.

A line such as "VOLUME II", "CHAPTER IV" or "Chapter 12" standing alone (or
heading a block) is not prose, but it is where a new section of the book
begins, so it becomes a heading (volumes and books above chapters, scenes and
sections below). A block made mostly of chapter lines is a table of contents
and is dropped. Text that marks paragraphs by indenting their first line,
without blank lines between them, is split at those indents.
"""

from __future__ import annotations

from collections.abc import Iterator

from voiced.extract.prose import Block, Heading, Paragraph, chapter_level, line_blocks, normalise_whitespace


def _is_contents(lines: list[str]) -> bool:
    numbered = sum(1 for line in lines if chapter_level(line.strip().split(".")[0]) is not None)
    return len(lines) >= 3 and numbered * 2 >= len(lines)


def _indented_paragraphs(lines: list[str]) -> list[list[str]]:
    """Split a block whose paragraphs begin with an indent and have no blank line between them."""
    indented = [i for i, line in enumerate(lines) if line[:1] in (" ", "\t")]
    if len(lines) < 3 or not indented or indented[0] != 0 or len(indented) < 2 or len(indented) == len(lines):
        return [lines]
    bounds = indented + [len(lines)]
    return [lines[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


def blocks(text: str) -> Iterator[Block]:
    """Paragraphs of a plain-text file, with chapter-number lines as headings."""
    for lines in line_blocks(text.split("\n")):
        if _is_contents(lines):
            continue
        level = chapter_level(lines[0])
        if level is not None:
            yield Heading(level, normalise_whitespace(lines[0]))
            lines = lines[1:]
        for paragraph in _indented_paragraphs(lines):
            if paragraph:
                yield Paragraph(" ".join(paragraph))
