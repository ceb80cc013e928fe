"""Markdown split into prose to rewrite and structure to keep, and put back together.

The model sees one paragraph of plain prose at a time: headings, code (fenced
and indented), front matter, tables, HTML, rules and blank lines pass through
untouched, and list/quote markers and indentation are kept as line prefixes
while only the item text is rewritten. Reassembling with an identity rewrite
returns the input byte for byte, so nothing the model does not rewrite can
change. Pure functions, no model: the daemon and the LSP server both use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

PROSE = "prose"
VERBATIM = "verbatim"

_QUOTE = re.compile(r"[ \t]{0,3}>[ \t]?")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+(?:\[[ xX]\][ \t]+)?|(?=$))")
_FENCE_OPEN = re.compile(r"[ \t]*(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"[ \t]{0,3}(?:=+|-+)[ \t]*$")
_RULE = re.compile(r"[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_INDENTED_CODE = re.compile(r"(?: {4}|\t)")
_OTHER_BLOCK = re.compile(r"[ \t]{0,3}(?:\||<|\[[^\]]+\]:|\$\$)")
_LEADING_SPACE = re.compile(r"[ \t]*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*[ \t]+(?=\S)")
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


@dataclass(frozen=True)
class Segment:
    """A run of the input: prose to rewrite, or text kept verbatim.

    For prose, ``text`` is what the model rewrites (prefixes removed, lines
    joined by "\\n", no leading/trailing whitespace); ``prefixes`` and
    ``line_ends`` hold what surrounds each original line, ``continuation``
    the prefix for lines the rewrite adds beyond the original count.
    """

    kind: str
    source: str
    text: str = ""
    prefixes: tuple[str, ...] = ()
    line_ends: tuple[str, ...] = ()
    continuation: str = ""

    @property
    def is_prose(self) -> bool:
        return self.kind == PROSE

    @property
    def newline(self) -> str:
        """The line ending the segment uses, for lines a rewrite adds."""
        return "\r\n" if self.line_ends and self.line_ends[0].endswith("\r\n") else "\n"


@dataclass
class _Line:
    raw: str  # the line without its ending
    end: str  # "\n", "\r\n" or "" (last line without newline)
    quote: str  # blockquote markers at the start ("> > ")
    body: str  # the rest after the quote markers


@dataclass
class _Paragraph:
    lines: list[_Line] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)


def _split_lines(text: str) -> list[_Line]:
    lines = []
    for chunk in text.splitlines(keepends=True):
        body = chunk.rstrip("\r\n")
        end = chunk[len(body) :]
        quote_match = re.match(r"(?:[ \t]{0,3}>[ \t]?)+", body)
        quote = quote_match.group(0) if quote_match else ""
        lines.append(_Line(body, end, quote, body[len(quote) :]))
    return lines


def _front_matter_end(lines: list[_Line]) -> int:
    """Number of lines of YAML (---) or TOML (+++) front matter at the start, 0 if none."""
    if not lines or lines[0].raw.rstrip() not in ("---", "+++"):
        return 0
    opener = lines[0].raw.rstrip()
    closers = ("---", "...") if opener == "---" else ("+++",)
    for index in range(1, len(lines)):
        if lines[index].raw.rstrip() in closers:
            return index + 1
    return 0


def _continuation_of(prefix: str) -> str:
    """The prefix for wrapped lines: quote markers kept, list markers turned into spaces."""
    quote_match = re.match(r"(?:[ \t]{0,3}>[ \t]?)+", prefix)
    quote = quote_match.group(0) if quote_match else ""
    return quote + " " * len(prefix[len(quote) :])


class _Splitter:
    def __init__(self, text: str) -> None:
        self.lines = _split_lines(text)
        self.segments: list[Segment] = []
        self.verbatim: list[str] = []
        self.paragraph: _Paragraph | None = None
        self.in_list = False

    def keep(self, line: _Line) -> None:
        self.flush_paragraph()
        self.verbatim.append(line.raw + line.end)

    def flush_verbatim(self) -> None:
        if self.verbatim:
            self.segments.append(Segment(VERBATIM, "".join(self.verbatim)))
            self.verbatim = []

    def flush_paragraph(self) -> None:
        para, self.paragraph = self.paragraph, None
        if para is None:
            return
        self.flush_verbatim()
        contents = list(para.contents)
        ends = [line.end for line in para.lines]
        stripped_last = contents[-1].rstrip(" \t")
        ends[-1] = contents[-1][len(stripped_last) :] + ends[-1]
        contents[-1] = stripped_last
        self.segments.append(
            Segment(
                PROSE,
                "".join(line.raw + line.end for line in para.lines),
                "\n".join(contents),
                tuple(para.prefixes),
                tuple(ends),
                _continuation_of(para.prefixes[0]),
            )
        )

    def add_to_paragraph(self, line: _Line, prefix: str, new: bool) -> None:
        if new or self.paragraph is None:
            self.flush_paragraph()
            self.paragraph = _Paragraph()
        self.paragraph.lines.append(line)
        self.paragraph.prefixes.append(prefix)
        self.paragraph.contents.append(line.raw[len(prefix) :])

    def skip_fence(self, start: int, fence: str, quote: str) -> int:
        """Keep the fenced block opened at ``start``; returns the index after it."""
        self.keep(self.lines[start])
        index = start + 1
        while index < len(self.lines):
            line = self.lines[index]
            self.keep(line)
            index += 1
            inner = line.body.strip()
            if (
                line.quote.strip() == quote.strip()
                and inner.startswith(fence[0] * len(fence))
                and inner.strip(fence[0]) == ""
            ):
                break
        return index

    def run(self) -> list[Segment]:
        index = _front_matter_end(self.lines)
        for line in self.lines[:index]:
            self.keep(line)
        previous_blank = True
        while index < len(self.lines):
            line = self.lines[index]
            body = line.body
            if not body.strip():
                self.keep(line)
                previous_blank = True
                index += 1
                continue
            if not line.raw[:1].isspace() and not _LIST_ITEM.match(line.raw):
                self.in_list = False  # something at the margin ends the list
            fence = _FENCE_OPEN.match(body)
            if fence:
                index = self.skip_fence(index, fence.group(1), line.quote)
                previous_blank = False
                continue
            if _ATX_HEADING.match(body) or _OTHER_BLOCK.match(body):
                self.keep(line)
            elif (
                self.paragraph is not None
                and not previous_blank
                and _SETEXT_UNDERLINE.match(body)
                and not _LIST_ITEM.fullmatch(body.strip())
            ):
                self.keep_setext_heading(line)
            elif _RULE.match(body):
                self.keep(line)
            elif (item := _LIST_ITEM.match(body)) and body[item.end() :].strip():
                self.in_list = True
                self.add_to_paragraph(line, line.quote + item.group(0), new=True)
            elif _INDENTED_CODE.match(body) and previous_blank and not self.in_list:
                self.keep(line)
                previous_blank = True  # further indented lines stay code
                index += 1
                continue
            else:
                indent = _LEADING_SPACE.match(body).group(0)
                self.add_to_paragraph(line, line.quote + indent, new=previous_blank)
            previous_blank = False
            index += 1
        self.flush_paragraph()
        self.flush_verbatim()
        return self.segments

    def keep_setext_heading(self, underline: _Line) -> None:
        """A paragraph followed by === or --- is a heading: keep it whole."""
        para, self.paragraph = self.paragraph, None
        for line in para.lines:
            self.verbatim.append(line.raw + line.end)
        self.verbatim.append(underline.raw + underline.end)


def split_markdown(text: str) -> list[Segment]:
    """Cut Markdown (or plain text) into prose paragraphs and verbatim structure."""
    return _Splitter(text).run()


def until_blank_line(pieces: Iterable[str], min_chars: int = 0) -> Iterator[str]:
    """A paragraph's rewrite as it streams, without leading or trailing whitespace, ended at the first
    blank line that follows the paragraph.

    A paragraph holds no blank line, so a model that writes one after the
    paragraph has gone on to something else (a second version, a "Rewrite:"
    label, a comment on its work); closing ``pieces`` there stops the
    generation too. A blank line after an introduction (text ending in a
    colon) or after fewer than ``min_chars`` characters is not the end: the
    rewrite goes on, so a label never takes the place of the paragraph.
    """
    pieces = iter(pieces)
    text, sent, search_from = "", 0, 0
    try:
        for piece in pieces:
            text += piece
            if not sent:
                text = text.lstrip()  # nothing sent yet: leading whitespace goes
            # A blank line is all whitespace, so it cannot reach back into what was sent (which ends
            # in text): each piece is searched from there, not from the start of the paragraph.
            for blank in _BLANK_LINE.finditer(text, max(search_from, sent)):
                before = text[: blank.start()].rstrip()
                if len(before) >= min_chars and not before.endswith(":"):
                    if len(before) > sent:
                        yield text[sent : len(before)]
                    return
                search_from = blank.end()  # an introduction, or too little to be the paragraph
            end = len(text.rstrip())  # trailing whitespace waits: it may open a blank line
            if end > sent:
                yield text[sent:end]
                sent = end
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def render_stream(segment: Segment, pieces: Iterable[str]) -> Iterator[str]:
    """Put a rewrite of ``segment`` back in place as it streams.

    Leading and trailing whitespace of the rewrite is dropped (the segment's own
    is kept), as is a copy of the segment's own list or quote marker that the
    model repeated at its start; each newline in the rewrite gets the line's
    prefix again.
    """
    if not segment.is_prose:
        yield segment.source
        return
    yield segment.prefixes[0]
    line = 0
    pending = ""  # whitespace held back until more text shows it is not trailing
    for piece in _without_echoed_marker(segment.prefixes[0].strip(), pieces):
        text = pending + piece
        body = text.rstrip()
        pending = text[len(body) :]
        if body:
            out, line = _with_prefixes(segment, body, line)
            yield out
    yield segment.line_ends[-1]


def _without_echoed_marker(marker: str, pieces: Iterable[str]) -> Iterator[str]:
    """The pieces without leading whitespace, nor ``marker`` if the text starts with it."""
    head = ""
    pieces = iter(pieces)
    for piece in pieces:
        head = (head + piece).lstrip()
        if not head:
            continue
        if marker and len(head) <= len(marker) and marker.startswith(head):
            continue  # could still be the marker: wait for more
        if marker and head.startswith(marker) and (len(head) == len(marker) or head[len(marker)].isspace()):
            head = head[len(marker) :].lstrip()
            if not head:
                continue
        break
    if head:
        yield head
    yield from pieces


def _with_prefixes(segment: Segment, text: str, line: int) -> tuple[str, int]:
    """``text`` with the prefix of each following line after every newline."""
    parts = text.split("\n")
    out = [parts[0]]
    for part in parts[1:]:
        out.append(segment.line_ends[line] if line < len(segment.line_ends) - 1 else segment.newline)
        line += 1
        prefix = segment.prefixes[line] if line < len(segment.prefixes) else segment.continuation
        out.append(prefix + part if part or prefix.strip() else "")
    return "".join(out), line


def render(segment: Segment, rewritten: str | None = None) -> str:
    """The segment with its prose replaced by ``rewritten`` (None keeps the original)."""
    if not segment.is_prose or rewritten is None:
        return segment.source
    return "".join(render_stream(segment, [rewritten]))


def reassemble(segments: Iterable[Segment], rewrite: Callable[[str], str]) -> str:
    """Rewrite every prose segment with ``rewrite`` and join everything back."""
    return "".join(render(s, rewrite(s.text)) if s.is_prose else s.source for s in segments)


def split_long(text: str, max_chars: int) -> list[str]:
    """Split a paragraph longer than ``max_chars`` at sentence ends, keeping each piece's separator.

    Joining the pieces returns ``text``. A single sentence longer than the
    limit stays whole: the model handles it or the request's length cap does.
    """
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    start = 0
    cut = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() - start > max_chars and cut > start:
            pieces.append(text[start:cut])
            start = cut
        cut = match.end()
    if len(text) - start > max_chars and cut > start:
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces
