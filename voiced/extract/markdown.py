"""Markdown and Obsidian notes to blocks.

A small line-based reader rather than a full CommonMark parser: it only has
to find the prose and the headings, and drop everything else (front matter,
code, tables, math, comments, footnote definitions, embeds, callout markers).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from voiced.extract.prose import Block, Heading, Paragraph, close_gaps

FRONT_MATTER = {"---": ("---", "..."), "+++": ("+++",)}
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
QUOTE = re.compile(r"^\s{0,3}>\s?")
CALLOUT = re.compile(r"^\s*\[![\w-]+\][+-]?")
ATX = re.compile(r"^\s{0,3}(#{1,6})(?:\s+(.*?))?\s*$")
SETEXT_1 = re.compile(r"^\s{0,3}=+\s*$")
SETEXT_2 = re.compile(r"^\s{0,3}-+\s*$")
THEMATIC = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX-]\]\s+)?")
FOOTNOTE_DEF = re.compile(r"^\s{0,3}\[\^[^\]]+\]:")
LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
INDENTED = re.compile(r"^( {4}|\t)")
LINKED = re.compile(r"\[\[[^\]]*\]\]|\[[^\]]*\]\((?:[^()]|\([^)]*\))*\)|\[[^\]]+\]\[[^\]]*\]|<?https?://\S+")

MULTILINE_DROPS = (
    re.compile(r"<!--.*?-->", re.DOTALL),  # HTML comments
    re.compile(r"<(script|style)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE),  # embedded code
    re.compile(r"%%.*?%%", re.DOTALL),  # Obsidian comments
    re.compile(r"\$\$.+?\$\$", re.DOTALL),  # display math
    re.compile(r"\\\[.+?\\\]", re.DOTALL),
)

INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL), " "),  # inline code
    (re.compile(r"!\[\[[^\]]*\]\]"), " "),  # Obsidian embeds
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), " "),  # images
    (re.compile(r"!\[[^\]]*\]\[[^\]]*\]"), " "),  # reference-style images
    (re.compile(r"\[\^[^\]]+\]"), ""),  # footnote references
    (re.compile(r"\[\[[^\]|]*\|([^\]]*)\]\]"), r"\1"),  # [[Note|alias]]
    (re.compile(r"\[\[([^\]#|]*)#?([^\]]*)\]\]"), lambda m: m.group(1) or m.group(2)),  # [[Note]], [[#Heading]]
    (re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<(?:https?|mailto|ftp):[^>\s]*>"), " "),  # autolinks
    (re.compile(r"\\\(.+?\\\)"), " "),  # \( math \)
    (re.compile(r"(?<![\\$\w])\$(?=\S)[^$\n]*?(?<=\S)\$(?!\d)"), " "),  # $math$, not "$5 and $10"
    (re.compile(r"</?[A-Za-z][\w:-]*(\s[^<>]*)?/?>"), " "),  # HTML tags
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *emphasis*
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),  # _emphasis_
    (re.compile(r"~~(.+?)~~"), r"\1"),  # strikethrough
    (re.compile(r"==(.+?)=="), r"\1"),  # highlight
    (re.compile(r"(?<![\w&/])#[A-Za-z][\w/-]*"), " "),  # Obsidian tags
    (re.compile(r"\s\^[\w-]+\s*$"), ""),  # Obsidian block ids
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~=$%])"), r"\1"),  # backslash escapes
)


def _mostly_links(raw: str, text: str) -> bool:
    """A paragraph whose words are mostly link texts is navigation (a map of notes), not prose."""
    linked = sum(len(clean_inline(match.group()).split()) for match in LINKED.finditer(raw))
    return linked * 2 > len(text.split())


def clean_inline(text: str) -> str:
    """Markdown inline markup to the words a reader sees."""
    for pattern, replacement in INLINE_RULES:
        text = pattern.sub(replacement, text)
    return html.unescape(text)


def _drop_front_matter(lines: list[str]) -> list[str]:
    if not lines or lines[0].strip() not in FRONT_MATTER:
        return lines
    closers = FRONT_MATTER[lines[0].strip()]
    for index in range(1, len(lines)):
        if lines[index].strip() in closers:
            return lines[index + 1 :]
    return lines  # no closing marker: not front matter after all


def _drop_fences(lines: list[str]) -> list[str]:
    """Blank out fenced code blocks (also inside block quotes) before anything else sees them."""
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        body = line
        while QUOTE.match(body):
            body = QUOTE.sub("", body, count=1)
        match = FENCE.match(body)
        if fence is None and match:
            fence = match.group(1)
            out.append("")
        elif fence is not None:
            if (
                match
                and match.group(1)[0] == fence[0]
                and len(match.group(1)) >= len(fence)
                and not body.strip().strip(fence[0])
            ):
                fence = None
            out.append("")
        else:
            out.append(line)
    return out


def _drop_multiline(text: str) -> str:
    def blank(match: re.Match[str]) -> str:
        return "\n\n" if "\n" in match.group(0) else " "

    for pattern in MULTILINE_DROPS:
        text = pattern.sub(blank, text)
    return text


def _quote_depth(line: str) -> tuple[int, str]:
    depth = 0
    while QUOTE.match(line):
        line = QUOTE.sub("", line, count=1)
        depth += 1
    return depth, line


def _is_table_row(line: str, following: str | None, in_table: bool) -> bool:
    if "|" not in line:
        return False
    if line.lstrip().startswith("|") or in_table or TABLE_DELIMITER.match(line):
        return True
    return following is not None and "|" in following and bool(TABLE_DELIMITER.match(following))


def blocks(text: str) -> Iterator[Block]:
    """Headings and prose paragraphs of a Markdown note, in order."""
    lines = _drop_fences(_drop_front_matter(text.split("\n")))
    lines = _drop_multiline("\n".join(lines)).split("\n")
    current: list[str] = []
    depth_before = 0
    blank_before = True
    in_table = in_list = in_footnote = False

    def flush() -> Iterator[Block]:
        if current:
            raw = " ".join(current)
            text = close_gaps(clean_inline(raw))
            if not _mostly_links(raw, text):
                yield Paragraph(text)
            current.clear()

    for index, raw in enumerate(lines):
        depth, line = _quote_depth(raw)
        if depth != depth_before:
            yield from flush()
            depth_before = depth
        following = _quote_depth(lines[index + 1])[1] if index + 1 < len(lines) else None
        if not line.strip():
            yield from flush()
            blank_before, in_table = True, False
            continue
        was_blank, blank_before = blank_before, False
        if in_footnote and (INDENTED.match(line) or not was_blank):
            continue
        in_footnote = False
        if in_list and was_blank and not INDENTED.match(line) and not LIST_ITEM.match(line):
            in_list = False
        if INDENTED.match(line) and not current and not in_list and was_blank:
            continue  # indented code block
        if depth and CALLOUT.match(line):
            yield from flush()
            continue
        if _is_table_row(line, following, in_table):
            yield from flush()
            in_table = True
            continue
        if FOOTNOTE_DEF.match(line):
            yield from flush()
            in_footnote = True
            continue
        if LINK_DEF.match(line) and not current:
            continue
        heading = ATX.match(line)
        if heading:
            yield from flush()
            title = re.sub(r"\s*\{#[^}]*\}$", "", (heading.group(2) or "").rstrip("#"))
            yield Heading(len(heading.group(1)), clean_inline(title))
            continue
        if current and len(current) == 1 and (SETEXT_1.match(line) or SETEXT_2.match(line)):
            title = clean_inline(current.pop())
            yield Heading(1 if SETEXT_1.match(line) else 2, title)
            continue
        if THEMATIC.match(line):
            yield from flush()
            continue
        item = LIST_ITEM.match(line)
        if item:
            yield from flush()
            in_list = True
            current.append(line[item.end() :])
            continue
        current.append(line.strip())
    yield from flush()
