"""Markdown split into prose to rewrite and structure to keep, and put back together.

The note is read by ``voiced.markdown_reader``, the CommonMark reader the
corpus extraction uses too. The model sees one paragraph of plain prose at a
time: headings, code (fenced and indented), front matter, tables, math, HTML,
footnote definitions, ``%%`` comments, callout titles, rules and blank lines
pass through untouched, and list/quote markers, task boxes and indentation are
kept as line prefixes while only the item text is rewritten. Reassembling with an identity rewrite
returns the input byte for byte, so nothing the model does not rewrite can
change. Pure functions, no model: the daemon and the LSP server both use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from voiced.markdown_reader import PARAGRAPH, Block, Line, read, words

PROSE = "prose"
VERBATIM = "verbatim"

_QUOTE = re.compile(r"(?:[ \t]{0,3}>[ \t]?)+")
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


def _continuation_of(prefix: str) -> str:
    """The prefix for wrapped lines: quote markers kept, list markers turned into spaces."""
    quote_match = _QUOTE.match(prefix)
    quote = quote_match.group(0) if quote_match else ""
    return quote + " " * len(prefix[len(quote) :])


def _source(lines: Sequence[Line]) -> str:
    return "".join(line.text + line.end for line in lines)


def _prose(block: Block, lines: Sequence[Line]) -> Segment:
    """A paragraph as the model sees it, with each line's markers and indentation kept aside."""
    own = lines[block.start : block.end]
    prefixes = tuple(line.text[:start] for line, start in zip(own, block.starts, strict=True))
    contents = [line.text[start:] for line, start in zip(own, block.starts, strict=True)]
    ends = [line.end for line in own]
    stripped_last = contents[-1].rstrip()  # what render_stream drops from a rewrite
    ends[-1] = contents[-1][len(stripped_last) :] + ends[-1]
    contents[-1] = stripped_last
    return Segment(PROSE, _source(own), "\n".join(contents), prefixes, tuple(ends), _continuation_of(prefixes[0]))


def split_markdown(text: str) -> list[Segment]:
    """Cut Markdown (or plain text) into prose paragraphs and verbatim structure.

    The paragraphs are those of ``voiced.markdown_reader`` that hold words (a
    paragraph of only an embed, code or math is structure); every other line is
    kept verbatim.
    """
    note = read(text)
    segments: list[Segment] = []
    done = 0  # lines before this one are in a segment
    for block in note.blocks:
        if block.kind != PARAGRAPH or not words(block)[0].strip():
            continue
        if block.start > done:
            segments.append(Segment(VERBATIM, _source(note.lines[done : block.start])))
        segments.append(_prose(block, note.lines))
        done = block.end
    if done < len(note.lines):
        segments.append(Segment(VERBATIM, _source(note.lines[done:])))
    return segments


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
    marker = segment.prefixes[0].strip()
    if _opens_with(segment.text, marker):
        marker = ""  # the paragraph itself starts with what looks like its marker: not an echo
    for piece in _without_echoed_marker(marker, pieces):
        text = pending + piece
        body = text.rstrip()
        pending = text[len(body) :]
        if body:
            out, line = _with_prefixes(segment, body, line)
            yield out
    yield segment.line_ends[-1]


def _opens_with(text: str, marker: str) -> bool:
    """Whether ``text`` starts with ``marker`` as a word of its own."""
    return bool(marker) and text.startswith(marker) and (len(text) == len(marker) or text[len(marker)].isspace())


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
        if marker and _opens_with(head, marker):
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
