"""Word .docx to blocks, from word/document.xml alone.

Reading only the main document part leaves out comments, headers, footers,
footnotes and endnotes (they live in other parts). Within it, tracked
deletions, field codes, text boxes, tables and captions are skipped;
hidden text is skipped; tracked insertions are kept, since they are what the
document now says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from voiced.config import ExtractionSettings
from voiced.extract.prose import Block, Heading, Paragraph, is_chapter_line, normalise_whitespace
from voiced.extract.reading import Archive

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
DOCUMENT = "word/document.xml"
STYLES = "word/styles.xml"

# Elements whose text is not part of the document's running prose.
SKIPPED = {
    W + "del",
    W + "moveFrom",
    W + "delText",
    W + "instrText",
    W + "drawing",
    W + "pict",
    W + "object",
    W + "txbxContent",
    MC + "AlternateContent",
    W + "footnoteReference",
    W + "endnoteReference",
    W + "commentReference",
}
BREAKS = {W + "tab", W + "br", W + "cr"}
HEADING_NAME = re.compile(r"^heading\s*(\d)$")
NOT_PROSE_STYLES = {
    "caption",
    "bibliography",
    "subtitle",
    "toc heading",
    "table of figures",
    "footnote text",
    "endnote text",
    "header",
    "footer",
    "quote source",
}
PSEUDO_HEADING_LEVEL = 9  # a short bold line: a section mark below any styled heading
PSEUDO_HEADING_WORDS = 10


def _style_names(archive: Archive) -> dict[str, str]:
    """styleId -> lower-case style name ("Heading1" -> "heading 1"), so localised ids still resolve."""
    if not archive.has(STYLES):
        return {}
    names: dict[str, str] = {}
    for style in archive.xml(STYLES).iter(W + "style"):
        style_id = style.get(W + "styleId")
        name = style.find(W + "name")
        if style_id and name is not None and name.get(W + "val"):
            names[style_id] = name.get(W + "val", "").lower()
    return names


def _text(element: Element, parts: list[str]) -> None:
    for child in element:
        if child.tag in SKIPPED or (child.tag == W + "r" and child.find(f"{W}rPr/{W}vanish") is not None):
            continue  # not the document's current visible text
        if child.tag == W + "t":
            parts.append(child.text or "")
        elif child.tag in BREAKS:
            parts.append(" ")
        else:
            _text(child, parts)


def _all_bold(paragraph: Element) -> bool:
    runs = [run for run in paragraph.iter(W + "r") if any((t.text or "").strip() for t in run.iter(W + "t"))]
    if not runs:
        return False
    for run in runs:
        bold = run.find(f"{W}rPr/{W}b")
        if bold is None or bold.get(W + "val", "true") in ("0", "false"):
            return False
    return True


def _paragraph_block(paragraph: Element, styles: dict[str, str]) -> Block | None:
    parts: list[str] = []
    _text(paragraph, parts)
    text = normalise_whitespace("".join(parts))
    if not text:
        return None
    style_id = paragraph.find(f"{W}pPr/{W}pStyle")
    style = styles.get(style_id.get(W + "val", ""), "") if style_id is not None else ""
    if not style and style_id is not None:
        style = style_id.get(W + "val", "").lower()
    if style == "title":
        return Heading(1, text)
    heading = HEADING_NAME.match(style)
    if heading:
        return Heading(int(heading.group(1)) + 1, text)
    outline = paragraph.find(f"{W}pPr/{W}outlineLvl")
    if outline is not None and outline.get(W + "val", "").isdigit() and int(outline.get(W + "val", "9")) < 9:
        return Heading(int(outline.get(W + "val", "0")) + 2, text)
    if style in NOT_PROSE_STYLES:
        return None
    short = len(text.split()) <= PSEUDO_HEADING_WORDS and not text.endswith((".", "!", "?", ":", ";", ",", '"', "”"))
    if is_chapter_line(text) or (short and _all_bold(paragraph)):
        return Heading(PSEUDO_HEADING_LEVEL, text)
    return Paragraph(text)


def _body_paragraphs(element: Element) -> Iterator[Element]:
    """Top-level paragraphs in order, including those inside content controls; tables are skipped."""
    for child in element:
        if child.tag == W + "p":
            yield child
        elif child.tag in (W + "sdt", W + "sdtContent", W + "ins", W + "moveTo", W + "customXml"):
            yield from _body_paragraphs(child)


def blocks(data: bytes, settings: ExtractionSettings) -> Iterator[Block]:
    """Headings and paragraphs of a .docx file's main text."""
    archive = Archive(data, settings, ".docx")
    root = archive.xml(DOCUMENT)
    styles = _style_names(archive)
    body = root.find(W + "body")
    if body is None:
        raise archive.damaged(f"{DOCUMENT} has no document body")
    for paragraph in _body_paragraphs(body):
        block = _paragraph_block(paragraph, styles)
        if block is not None:
            yield block
