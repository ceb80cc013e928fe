"""Org mode to blocks.

Star headlines become headings (TODO keywords, priorities and tags removed);
#+ keywords, src/example/export blocks, drawers, planning lines, tables,
fixed-width lines, comments and footnote definitions are dropped. Quote and
verse blocks are prose. Links keep their description.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from voiced.extract.prose import Block, Heading, Paragraph, close_gaps

HEADLINE = re.compile(r"^(\*+)\s+(.*?)\s*$")
TODO = re.compile(r"^(TODO|DONE|NEXT|WAITING|HOLD|CANCELLED|CANCELED)\s+")
PRIORITY = re.compile(r"^\[#[A-Z0-9]\]\s*")
TAGS = re.compile(r"\s+:[\w@#%:]+:$")
BLOCK_BEGIN = re.compile(r"^\s*#\+begin_(\w+)", re.IGNORECASE)
BLOCK_END = re.compile(r"^\s*#\+end_(\w+)", re.IGNORECASE)
PROSE_BLOCKS = {"quote", "verse", "center"}
KEYWORD = re.compile(r"^\s*#\+\w*")
COMMENT = re.compile(r"^\s*#(\s|$)")
DRAWER = re.compile(r"^\s*:[\w-]+:\s*$")
DRAWER_END = re.compile(r"^\s*:END:\s*$", re.IGNORECASE)
PLANNING = re.compile(r"^\s*(SCHEDULED|DEADLINE|CLOSED):")
TABLE = re.compile(r"^\s*\|")
FIXED_WIDTH = re.compile(r"^\s*:(\s|$)")
FOOTNOTE_DEF = re.compile(r"^\[fn:[\w-]+\]")
LIST_ITEM = re.compile(r"^\s*(?:[-+]|\s\*|\d+[.)])\s+(?:\[[ X-]\]\s+)?")

INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\[\[[^\]]*\]\[([^\]]*)\]\]"), r"\1"),  # [[link][description]]
    (re.compile(r"\[\[(?:https?|file|mailto|id|doi):[^\]]*\]\]"), " "),  # bare URL links
    (re.compile(r"\[\[([^\]]*)\]\]"), r"\1"),  # [[Internal target]]
    (re.compile(r"\[fn:[^\]]*\]"), ""),  # footnote references
    (re.compile(r"(?<![\w])([=~])(?=\S)[^\n]*?(?<=\S)\1(?!\w)"), " "),  # =verbatim= and ~code~
    (re.compile(r"src_\w+(\[[^\]]*\])?\{[^}]*\}"), " "),  # inline source
    (re.compile(r"\\\(.+?\\\)|(?<![\\$\w])\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)"), " "),  # math
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *bold*
    (re.compile(r"(?<![\w/:])/(?=\S)(.+?)(?<=\S)/(?![\w/])"), r"\1"),  # /italic/
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),  # _underline_
    (re.compile(r"(?<![\w+])\+(?=\S)(.+?)(?<=\S)\+(?![\w+])"), r"\1"),  # +strike+
    (re.compile(r"@@\w+:.*?@@"), " "),  # export snippets
)


def clean_inline(text: str) -> str:
    for pattern, replacement in INLINE_RULES:
        text = pattern.sub(replacement, text)
    return text


def _headline(title: str) -> str:
    title = TODO.sub("", title)
    title = PRIORITY.sub("", title)
    title = TAGS.sub("", title)
    return clean_inline(title)


def blocks(text: str) -> Iterator[Block]:
    """Headings and prose paragraphs of an Org file, in order."""
    current: list[str] = []
    skipping_block: str | None = None
    in_drawer = in_footnote = False
    item_indent: int | None = None  # indentation of the list item being read

    def flush() -> Iterator[Block]:
        if current:
            yield Paragraph(close_gaps(clean_inline(" ".join(current))))
            current.clear()

    for line in text.split("\n"):
        if skipping_block is not None:
            end = BLOCK_END.match(line)
            if end and end.group(1).lower() == skipping_block:
                skipping_block = None
            continue
        if in_drawer:
            in_drawer = not DRAWER_END.match(line)
            continue
        headline = HEADLINE.match(line)
        if headline:
            yield from flush()
            in_footnote = False
            yield Heading(len(headline.group(1)), _headline(headline.group(2)))
            continue
        if not line.strip():
            yield from flush()
            in_footnote, item_indent = False, None
            continue
        if in_footnote:
            continue
        begin = BLOCK_BEGIN.match(line)
        if begin:
            yield from flush()
            if begin.group(1).lower() not in PROSE_BLOCKS:
                skipping_block = begin.group(1).lower()
            continue
        if BLOCK_END.match(line):
            yield from flush()
            continue
        if DRAWER.match(line) and not DRAWER_END.match(line):
            yield from flush()
            in_drawer = True
            continue
        if FOOTNOTE_DEF.match(line):
            yield from flush()
            in_footnote = True
            continue
        if (
            KEYWORD.match(line)
            or COMMENT.match(line)
            or PLANNING.match(line)
            or TABLE.match(line)
            or FIXED_WIDTH.match(line)
        ):
            yield from flush()
            continue
        item = LIST_ITEM.match(line)
        indent = len(line) - len(line.lstrip())
        if item or (item_indent is not None and indent <= item_indent):
            yield from flush()  # a new item, or a line out-dented past the item: the list item ended
            item_indent = indent if item else None
        current.append(line[item.end() :] if item else line.strip())
    yield from flush()
