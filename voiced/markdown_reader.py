"""Markdown read once, by a CommonMark parser, for the corpus and for the rewrite.

Extraction (``voiced.extract.markdown``) and the rewrite's chunking
(``voiced.inference.markdown_chunks``) both see a note through :func:`read`, so
they agree on what is prose: markdown-it-py (CommonMark with GFM tables and
strikethrough) with its front-matter (YAML; TOML ``+++`` is added here),
footnote and dollar-math plugins, plus the Obsidian syntax a vault holds:
``%% comments %%``, callouts (``> [!note] Title``), ``[[wikilinks]]`` and
``![[embeds]]``; :func:`words` also drops ``#tags`` and ``^block-ids`` and
keeps the text of ``==highlights==`` and of ``[text][ref]`` links whose
reference the note does not define. The parser gives line maps; :func:`read`
turns them into the paragraphs and headings of the note, with where each
paragraph line's text starts after its quote and list markers. Every other line
(code, front matter, math, tables, HTML, rules, footnotes, comments, callout
titles, blank lines) is structure.

A delimiter never pairs with one far away (the line-based readers this replaces
let a stray ``$$`` or ``%%`` swallow the prose up to the next one):

- inline ``$math$``, ``$$math$$``, ``\\(math\\)``, ``\\[math\\]`` and
  ``%%comment%%`` close within their paragraph, or are literal text;
- a ``$$`` block closes at a line ending in ``$$`` before any blank line (TeX
  allows none in display math), or it is literal text;
- a ``%%`` block (a line starting with ``%%``) closes at the first line ending
  in ``%%``; it may hold blank lines only when its opening line is ``%%`` alone
  (Obsidian's comment over several paragraphs), otherwise it must close before
  the first blank line; never closed, it is literal text;
- unclosed code fences, ``<!--`` and ``<script>`` run to the end of their
  container (document, quote or list item), as CommonMark has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import MD_TRIM_CHARS
from markdown_it.ruler import RuleOptionsType
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

PARAGRAPH = "paragraph"
HEADING = "heading"

_NEWLINE = re.compile(r"(\r\n|\r|\n)")  # what markdown-it counts as a line break
_CALLOUT = re.compile(r"\[![\w-]+\][+-]?")
_TASK_BOX = re.compile(r"\[[ xX-]\][ \t]+(?=\S)")
_WIKILINK = re.compile(r"!?\[\[([^\[\]\n]*)\]\]")
_TEX_CLOSERS = {"(": "\\)", "[": "\\]"}
_TAG = re.compile(r"(?<![\w&/])#[A-Za-z][\w/-]*")
_UNRESOLVED_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]")  # "[text][ref]" with no "[ref]: url" in the note
_HIGHLIGHT = re.compile(r"==(?=\S)(.+?)(?<=\S)==")
_BLOCK_ID = re.compile(r"\s\^[\w-]+\s*$")
_URL = re.compile(r"https?://|www\.")
_HEADING_ID = re.compile(r"\s*\{#[^}]*\}$")
_NO_WORDS = frozenset(
    ("code_inline", "math_inline", "math_inline_double", "html_inline", "image", "obsidian_comment", "tex_math")
)
_BREAKS = frozenset(("softbreak", "hardbreak"))


@dataclass(frozen=True)
class Line:
    text: str  # without its ending
    end: str  # "\n", "\r\n", "\r", or "" for a last line without one


@dataclass(frozen=True)
class Block:
    """A paragraph or heading of the note: lines ``start`` to ``end`` (exclusive), 0-based."""

    kind: str
    start: int
    end: int
    inline: Token  # the parsed inline text, for :func:`words`
    starts: tuple[int, ...] = ()  # paragraphs: per line, where its text starts (after quote/list markers, indent)
    level: int = 0  # headings: 1 is outermost
    task: bool = False  # a task item: the box ("[ ]", "[x]") is structure, not text
    callout: bool = False  # the callout's marker line is left out (``start`` is the line after it)


@dataclass(frozen=True)
class Note:
    lines: tuple[Line, ...]
    blocks: tuple[Block, ...]


def split_lines(text: str) -> tuple[Line, ...]:
    """The lines as markdown-it counts them (a "\\n", "\\r\\n" or lone "\\r" ends one), each with its ending."""
    parts = _NEWLINE.split(text)
    lines = [Line(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    if parts[-1]:
        lines.append(Line(parts[-1], ""))
    return tuple(lines)


def read(text: str) -> Note:
    """The note's lines and its paragraphs and headings, in order."""
    lines = split_lines(text)
    tokens = _parser().parse(text)
    return Note(lines, tuple(_blocks(tokens, lines)))


def words(block: Block) -> tuple[str, int]:
    """The words a reader sees in ``block`` (markup, code, math, comments, embeds and tags left out),
    and how many of them are the text of links."""
    out: list[str] = []
    linked = 0
    link_depth = 0
    autolink = False
    children = block.inline.children or []
    if block.callout:
        first_break = next((i for i, child in enumerate(children) if child.type in _BREAKS), len(children))
        children = children[first_break + 1 :]
    for index, child in enumerate(children):
        kind = child.type
        if kind == "text":
            if autolink:
                continue
            text = child.content
            if index == 0 and block.task:
                text = _TASK_BOX.sub("", text, count=1)
            out.append(text)
            linked += len(text.split()) if link_depth else sum(1 for w in text.split() if _URL.match(w))
        elif kind in _BREAKS or kind in _NO_WORDS:
            out.append(" ")
        elif kind == "link_open":
            link_depth += 1
            autolink = child.markup == "autolink"
            if autolink:
                out.append(" ")
        elif kind == "link_close":
            link_depth -= 1
            autolink = False
        elif kind == "wikilink" and not child.meta["embed"]:
            out.append(child.content)
            linked += len(child.content.split())
        elif kind == "wikilink":
            out.append(" ")
    text = "".join(out)
    if block.kind == HEADING:
        text = _HEADING_ID.sub("", text)
    text = _UNRESOLVED_LINK.sub(r"\1", _HIGHLIGHT.sub(r"\1", text))
    return _BLOCK_ID.sub("", _TAG.sub(" ", text)), linked


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    front_matter_plugin(md)
    footnote_plugin(md)
    dollarmath_plugin(
        md, allow_labels=False, allow_space=False, allow_digits=False, allow_blank_lines=False, double_inline=True
    )
    interrupts: RuleOptionsType = {"alt": ["paragraph", "reference", "blockquote", "list"]}
    md.block.ruler.before("front_matter", "toml_front_matter", _toml_front_matter, interrupts)
    md.block.ruler.before("fence", "obsidian_comment", _comment_block, interrupts)
    md.inline.ruler.before("escape", "tex_math", _tex_math)
    md.inline.ruler.before("backticks", "obsidian_comment", _comment_inline)
    md.inline.ruler.before("link", "wikilink", _wikilink)
    return md


def _blocks(tokens: list[Token], lines: tuple[Line, ...]) -> list[Block]:
    blocks: list[Block] = []
    footnotes = 0  # inside a footnote definition: not the running prose
    for index, token in enumerate(tokens):
        kind = token.type
        if kind in ("footnote_block_open", "footnote_reference_open"):
            footnotes += 1
        elif kind in ("footnote_block_close", "footnote_reference_close"):
            footnotes -= 1
        elif kind == "heading_open" and token.map and not footnotes:
            blocks.append(Block(HEADING, token.map[0], token.map[1], tokens[index + 1], level=int(token.tag[1])))
        elif kind == "paragraph_open" and token.map and not footnotes:
            paragraph = _paragraph(token.map, tokens[index + 1], tokens[index - 1] if index else None, lines)
            if paragraph is not None:
                blocks.append(paragraph)
    return blocks


def _paragraph(span: list[int], inline: Token, parent: Token | None, lines: tuple[Line, ...]) -> Block | None:
    """The paragraph's lines and where each one's text starts; None (structure) if they cannot be told
    apart, or if its first line holds only whitespace the parser does not count (a form feed)."""
    start, end = span
    contents = inline.content.split("\n")
    if len(contents) != end - start:
        return None
    starts = []
    for number, content in enumerate(contents):
        raw = lines[start + number].text
        if number == len(contents) - 1:
            raw = raw.rstrip(MD_TRIM_CHARS)  # the parser trims the paragraph's end
        body = content.lstrip() or content  # what a rewrite's strip would drop goes into the prefix
        if not raw.endswith(body):
            return None
        starts.append(len(raw) - len(body))
    box = _TASK_BOX.match(contents[0]) if parent is not None and parent.type == "list_item_open" else None
    if box:
        starts[0] += box.end()
    callout = parent is not None and parent.type == "blockquote_open" and bool(_CALLOUT.match(contents[0]))
    if callout:
        if end - start == 1:
            return None  # a callout title alone: structure
        start, starts = start + 1, starts[1:]
    if not lines[start].text[starts[0] :].strip():
        return None
    return Block(PARAGRAPH, start, end, inline, tuple(starts), task=box is not None, callout=callout)


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]].rstrip()


def _toml_front_matter(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """``+++`` front matter (TOML) at the very start, closed by a ``+++`` line."""
    if start != 0 or state.src[state.bMarks[0] : state.eMarks[0]].rstrip() != "+++":
        return False
    for line in range(1, end):
        if state.src[state.bMarks[line] : state.eMarks[line]].rstrip() == "+++":
            if not silent:
                token = state.push("front_matter", "", 0)
                token.block, token.map = True, [0, line + 1]
                state.line = line + 1
            return True
    return False


def _comment_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """An Obsidian ``%%`` comment over whole lines (the rules are in the module docstring)."""
    if state.is_code_block(start):
        return False
    opening = _line(state, start)
    if not opening.startswith("%%"):
        return False
    alone = opening == "%%"
    close: int | None = None
    if not alone and len(opening) >= 4 and opening.endswith("%%"):
        if "%%" in opening[2:-2]:
            return False  # "%% a %% b %%": inline comments in a paragraph
        close = start
    elif not alone and "%%" in opening[2:]:
        return False  # a comment followed by text: a paragraph
    else:
        for line in range(start + 1, end):
            text = _line(state, line)
            if text and state.sCount[line] < state.blkIndent:
                break  # the container (a list item) ends here
            if not text:
                if alone:
                    continue
                break
            if text.endswith("%%"):
                close = line
                break
    if close is None:
        return False
    if not silent:
        token = state.push("obsidian_comment", "", 0)
        token.block, token.map = True, [start, close + 1]
        state.line = close + 1
    return True


def _comment_inline(state: StateInline, silent: bool) -> bool:
    """``%%comment%%`` inside a paragraph; an unmatched ``%%`` is literal text."""
    return state.src.startswith("%%", state.pos) and _closed_span(state, silent, "%%", "obsidian_comment")


def _tex_math(state: StateInline, silent: bool) -> bool:
    """``\\(math\\)`` and ``\\[math\\]`` inside a paragraph; unclosed, the backslash is an escape as usual."""
    closer = _TEX_CLOSERS.get(state.src[state.pos + 1 : state.pos + 2]) if state.src[state.pos] == "\\" else None
    return closer is not None and _closed_span(state, silent, closer, "tex_math")


def _closed_span(state: StateInline, silent: bool, closer: str, kind: str) -> bool:
    """A two-character opener at ``state.pos`` up to ``closer`` in the same paragraph, as one token."""
    close = state.src.find(closer, state.pos + 2)
    if close < 0:
        return False
    if not silent:
        state.push(kind, "", 0).content = state.src[state.pos + 2 : close]
    state.pos = close + len(closer)
    return True


def _wikilink(state: StateInline, silent: bool) -> bool:
    """``[[Note]]``, ``[[Note#Heading]]``, ``[[Note|alias]]`` and ``![[embed]]``: the text shown is the
    alias, else the note, else the heading."""
    if state.src[state.pos] not in "![":
        return False
    match = _WIKILINK.match(state.src, state.pos)
    if match is None:
        return False
    if not silent:
        target, _, alias = match.group(1).partition("|")
        note, _, heading = target.partition("#")
        token = state.push("wikilink", "", 0)
        token.content = alias or note or heading
        token.meta = {"target": target, "embed": match.group(0).startswith("!")}
    state.pos = match.end()
    return True
