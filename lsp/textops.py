"""Which text an action works on: the selection, or the paragraph under the cursor.

Pure functions over pygls' TextDocument. Positions are converted with the
document's position codec (the client's encoding: UTF-16 unless negotiated
otherwise); nothing here counts code units by hand. The document is split into
lines once per request: on long documents that split is the main cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition, ServerTextRange


@dataclass(frozen=True)
class Target:
    """The range an action replaces (client units) and the text in it."""

    range: types.Range
    text: str


@dataclass(frozen=True)
class DocumentView:
    """A document's lines and codec, taken once for one request."""

    lines: Sequence[str]
    codec: PositionCodec

    @classmethod
    def of(cls, document: TextDocument) -> DocumentView:
        return cls(document.lines, document.position_codec)

    def text(self, server: ServerTextRange) -> str:
        start, end = server.start, server.end
        if start.line >= len(self.lines):
            return ""
        if start.line == end.line:
            return self.lines[start.line][start.character : end.character]
        middle = "".join(self.lines[start.line + 1 : end.line])
        tail = self.lines[end.line][: end.character] if end.line < len(self.lines) else ""
        return self.lines[start.line][start.character :] + middle + tail

    def paragraph_lines(self, line: int) -> tuple[int, int] | None:
        """First and last line of the run of non-blank lines containing ``line``."""
        lines = self.lines
        if not 0 <= line < len(lines) or not lines[line].strip():
            return None
        first = line
        while first > 0 and lines[first - 1].strip():
            first -= 1
        last = line
        while last + 1 < len(lines) and lines[last + 1].strip():
            last += 1
        return first, last


def paragraph_at(view: DocumentView, line: int) -> ServerTextRange | None:
    """The paragraph containing ``line`` without its final line break (code points), or None."""
    found = view.paragraph_lines(line)
    if found is None:
        return None
    first, last = found
    end = len(view.lines[last].rstrip("\r\n"))
    return ServerTextRange(ServerTextPosition(first, 0), ServerTextPosition(last, end))


def cursor_of(view: DocumentView, rng: types.Range) -> types.Position | None:
    """The cursor when ``rng`` is one: empty, or a single character (Helix's cursor is a
    one-character selection, over the line break at a line's end); None for a real selection."""
    if rng.start == rng.end:
        return rng.start
    if len(view.text(view.codec.range_from_client_units(view.lines, rng))) <= 1:
        return rng.start
    return None


def target_for(view: DocumentView, rng: types.Range) -> Target | None:
    """The selection when there is one, otherwise the paragraph under the cursor; None on a blank line."""
    cursor = cursor_of(view, rng)
    if cursor is None:
        text = view.text(view.codec.range_from_client_units(view.lines, rng))
        return Target(rng, text) if text.strip() else None
    paragraph = paragraph_at(view, cursor.line)
    if paragraph is None:
        return None
    return Target(view.codec.range_to_client_units(view.lines, paragraph), view.text(paragraph))


def at_paragraph_end(view: DocumentView, position: types.Position) -> bool:
    """True when the cursor sits on the last line of a paragraph, after its last visible character."""
    found = view.paragraph_lines(position.line)
    if found is None or position.line != found[1]:
        return False
    server = view.codec.position_from_client_units(view.lines, position)
    return server.character >= len(view.lines[position.line].rstrip())
