"""reStructuredText to blocks.

Section titles (underlined, optionally overlined) become headings, levelled
in the order their adornment styles first appear, as docutils does.
Directives, comments, literal blocks (after ``::``), tables, field lists and
roles are dropped; inline markup is reduced to its words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from voiced.extract.prose import Block, Heading, Paragraph, close_gaps

ADORNMENT = re.compile(r"""^([=\-`:'"~^_*+#<>.])\1{2,}\s*$""")
EXPLICIT = re.compile(r"^\.\.(\s|$)")  # directives, comments, targets, footnote/citation bodies
FIELD = re.compile(r"^:[\w\s.-]+:(\s|$)")
GRID_TABLE = re.compile(r"^\s*(\+[-=+]{2,}|\|)")
SIMPLE_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")
BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#\.|\(?[a-zA-Z0-9]\))\s+")
KEPT_ROLES = {"emphasis", "strong", "title-reference", "title", "t", "sup", "sub", "abbr"}

INLINE_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"``.+?``"), " "),  # inline literals
    (re.compile(r":([\w.+-]+):`([^`]*)`"), lambda m: m.group(2) if m.group(1) in KEPT_ROLES else " "),  # roles
    (re.compile(r"`([^`<]*?)\s*<[^>`]*>`__?"), r"\1"),  # `text <url>`_
    (re.compile(r"\[(#[\w-]*|\*|\d+|[A-Za-z][\w.-]*)\]_"), ""),  # footnote and citation references
    (re.compile(r"`([^`]+)`__?"), r"\1"),  # `reference`_
    (re.compile(r"(?<!\w)([A-Za-z][\w-]*)__?(?!\w)"), r"\1"),  # word_ references
    (re.compile(r"`([^`]+)`"), r"\1"),  # interpreted text
    (re.compile(r"\|[^|\s][^|]*\|_{0,2}"), " "),  # substitutions
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"\\(.)"), r"\1"),
)


def clean_inline(text: str) -> str:
    for pattern, replacement in INLINE_RULES:
        text = pattern.sub(replacement, text)
    return text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class _Levels:
    """Heading levels by adornment style, in order of first appearance."""

    def __init__(self) -> None:
        self.styles: list[tuple[str, bool]] = []

    def level(self, char: str, overlined: bool) -> int:
        if (char, overlined) not in self.styles:
            self.styles.append((char, overlined))
        return self.styles.index((char, overlined)) + 1


def _is_title(lines: list[str], index: int) -> tuple[int, bool] | None:
    """If a section title starts at ``index``: (lines it spans, overlined?)."""
    line = lines[index]
    following = lines[index + 1] if index + 1 < len(lines) else ""
    after = lines[index + 2] if index + 2 < len(lines) else ""
    if ADORNMENT.match(line) and following.strip() and ADORNMENT.match(after) and after.strip()[0] == line.strip()[0]:
        return 3, True
    if (
        line.strip()
        and not ADORNMENT.match(line)
        and _indent(line) == 0
        and ADORNMENT.match(following)
        and len(following.strip()) >= len(line.strip()) - 1
    ):
        return 2, False
    return None


def blocks(text: str) -> Iterator[Block]:
    """Headings and prose paragraphs of an rst document, in order."""
    lines = text.split("\n")
    levels = _Levels()
    current: list[str] = []
    skip_indent: int | None = None  # skipping a block indented deeper than this
    literal_next = False
    in_table = False
    index = 0

    def flush() -> Iterator[Block]:
        nonlocal literal_next
        if current:
            joined = " ".join(current).rstrip()
            if joined.endswith("::"):
                literal_next = True
                joined = joined[:-2].rstrip() + (":" if not joined[:-2].endswith(" ") else "")
            yield Paragraph(close_gaps(clean_inline(joined)))
            current.clear()

    while index < len(lines):
        line = lines[index]
        if skip_indent is not None:
            if not line.strip() or _indent(line) > skip_indent:
                index += 1
                continue
            skip_indent = None
        if not line.strip():
            yield from flush()
            in_table = False
            index += 1
            continue
        if literal_next and not current:
            literal_next = False
            if _indent(line) > 0 or line.lstrip().startswith(">>>"):
                skip_indent = _indent(line) - 1 if _indent(line) > 0 else 0
                continue
        if in_table or GRID_TABLE.match(line) or SIMPLE_TABLE_BORDER.match(line):
            yield from flush()
            in_table = True
            index += 1
            continue
        title = None if current else _is_title(lines, index)
        if title:
            span, overlined = title
            text_line = lines[index + 1] if overlined else line
            char = lines[index + span - 1].strip()[0]
            yield Heading(levels.level(char, overlined), clean_inline(text_line.strip()))
            index += span
            continue
        if EXPLICIT.match(line.lstrip()) or (FIELD.match(line) and not current):
            yield from flush()
            skip_indent = _indent(line)
            index += 1
            continue
        if ADORNMENT.match(line):  # a transition
            yield from flush()
            index += 1
            continue
        bullet = BULLET.match(line)
        if bullet:
            yield from flush()
            current.append(line[bullet.end() :])
        else:
            current.append(line.strip())
        if current and current[-1].rstrip() == "::":
            current.pop()
            yield from flush()
            literal_next = True
        index += 1
    yield from flush()
