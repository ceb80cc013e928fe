"""OpenDocument .odt to blocks, from content.xml.

text:h elements are headings and text:p paragraphs; notes (footnotes and
endnotes), annotations, tracked-change records, frames and tables are left
out, as is everything outside the main text (styles, headers, footers).
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element

from voiced.config import ExtractionSettings
from voiced.extract.prose import Block, Heading, Paragraph, normalise_whitespace
from voiced.extract.reading import Archive

TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
CONTENT = "content.xml"

SKIPPED = {
    TEXT + "note",
    OFFICE + "annotation",
    OFFICE + "annotation-end",
    TEXT + "tracked-changes",
    DRAW + "frame",
    TABLE + "table",
    TEXT + "table-of-content",
    TEXT + "bibliography",
    TEXT + "alphabetical-index",
    TEXT + "sequence-decls",
    TEXT + "variable-decls",
}
CONTAINERS = {TEXT + "list", TEXT + "list-item", TEXT + "list-header", TEXT + "section", OFFICE + "text"}
NOT_PROSE_STYLES = {"caption", "subtitle", "bibliography", "illustration", "table", "figure", "drawing"}


def _text(element: Element, parts: list[str]) -> None:
    parts.append(element.text or "")
    for child in element:
        if child.tag == TEXT + "s":
            count = child.get(TEXT + "c", "1")
            parts.append(" " * (min(int(count), 100) if count.isdigit() else 1))
        elif child.tag in (TEXT + "tab", TEXT + "line-break"):
            parts.append(" ")
        elif child.tag not in SKIPPED:
            _text(child, parts)
        parts.append(child.tail or "")


def _walk(element: Element) -> Iterator[Block]:
    for child in element:
        if child.tag in SKIPPED:
            continue
        if child.tag in CONTAINERS:
            yield from _walk(child)
        elif child.tag in (TEXT + "h", TEXT + "p"):
            parts: list[str] = []
            _text(child, parts)
            text = normalise_whitespace("".join(parts))
            style = child.get(TEXT + "style-name", "").lower()
            if not text or style in NOT_PROSE_STYLES:
                continue
            if child.tag == TEXT + "h":
                level = child.get(TEXT + "outline-level", "1")
                yield Heading(int(level) if level.isdigit() else 1, text)
            elif style == "title":
                yield Heading(1, text)
            else:
                yield Paragraph(text)


def blocks(data: bytes, settings: ExtractionSettings) -> Iterator[Block]:
    """Headings and paragraphs of an .odt file's main text."""
    archive = Archive(data, settings, ".odt")
    root = archive.xml(CONTENT)
    body = root.find(f"{OFFICE}body/{OFFICE}text")
    if body is None:
        raise archive.damaged(f"{CONTENT} has no text body")
    yield from _walk(body)
