"""Which text an action works on: the selection, or the paragraph under the cursor.

Pure functions over pygls' TextDocument, whose helpers convert between the
client's position encoding (UTF-16 by default) and code points; nothing here
counts code units by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange


@dataclass(frozen=True)
class Target:
    """The range an action replaces (client units) and the text in it."""

    range: types.Range
    text: str


def _is_blank(line: str) -> bool:
    return not line.strip()


def _paragraph_lines(lines: Sequence[str], line: int) -> tuple[int, int] | None:
    if not 0 <= line < len(lines) or _is_blank(lines[line]):
        return None
    first = line
    while first > 0 and not _is_blank(lines[first - 1]):
        first -= 1
    last = line
    while last + 1 < len(lines) and not _is_blank(lines[last + 1]):
        last += 1
    return first, last


def paragraph_at(document: TextDocument, line: int) -> types.Range | None:
    """The run of non-blank lines containing ``line`` (without its final line break), or None."""
    lines = document.lines
    found = _paragraph_lines(lines, line)
    if found is None:
        return None
    first, last = found
    end = len(lines[last].rstrip("\r\n"))
    server = ServerTextRange(ServerTextPosition(first, 0), ServerTextPosition(last, end))
    return document.range_to_client_units(server)


def target_for(document: TextDocument, rng: types.Range) -> Target | None:
    """The selection when there is one, otherwise the paragraph under the cursor; None on a blank line."""
    if rng.start != rng.end:
        text = document.text_in_client_range(rng)
        return Target(rng, text) if text.strip() else None
    paragraph = paragraph_at(document, rng.start.line)
    if paragraph is None:
        return None
    return Target(paragraph, document.text_in_client_range(paragraph))


def at_paragraph_end(document: TextDocument, position: types.Position) -> bool:
    """True when the cursor sits on the last line of a paragraph, after its last visible character."""
    lines = document.lines
    found = _paragraph_lines(lines, position.line)
    if found is None or position.line != found[1]:
        return False
    server = document.position_from_client_units(position)
    return server.character >= len(lines[position.line].rstrip())
