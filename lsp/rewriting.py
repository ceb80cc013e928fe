"""Rewrite a Markdown-aware selection paragraph by paragraph, with progress and cancellation.

Independent of LSP: the server passes a ``generate`` function (a daemon stream)
and callbacks. Headings, list and quote markers, indentation and code blocks
are kept by `voiced.inference.markdown_chunks`; only prose reaches the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from voiced.inference.markdown_chunks import render_stream, split_markdown
from voiced.inference.rewrite_guard import describe


class RewriteCancelled(Exception):
    """The user cancelled; nothing is applied."""


Generate = Callable[[str], Iterator[str]]
Progress = Callable[[int, int], None]


def prose_count(text: str) -> int:
    return sum(1 for segment in split_markdown(text) if segment.is_prose)


def rewrite_markdown(
    text: str, generate: Generate, *, progress: Progress | None = None, cancel: threading.Event | None = None
) -> str:
    """``text`` with every prose paragraph replaced by ``generate``'s output, structure kept byte for byte."""
    segments = split_markdown(text)
    total = sum(1 for s in segments if s.is_prose)
    done = 0
    out: list[str] = []
    if progress:
        progress(done, total)
    for segment in segments:
        if not segment.is_prose:
            out.append(segment.source)
            continue
        out.extend(render_stream(segment, _checked(generate(segment.text), cancel)))
        done += 1
        if progress:
            progress(done, total)
    return "".join(out)


class GuardNotes:
    """What the daemon's rewrite guard said about the paragraphs of one action, numbered as the writer
    counts them in the selection (the LSP sends one paragraph per request), for one message at the end."""

    def __init__(self) -> None:
        self.reports: list[dict] = []
        self._paragraph = 0

    def track(self, generate: Generate) -> Generate:
        """``generate``, counting the paragraphs it is asked for."""

        def counted(text: str) -> Iterator[str]:
            self._paragraph += 1
            return generate(text)

        return counted

    def add(self, report: dict) -> None:
        """A ``guard`` event of the daemon's stream (``DaemonClient.stream_rewrite(on_guard=...)``)."""
        self.reports.append({**report, "paragraph": self._paragraph})

    @property
    def left_as_they_were(self) -> bool:
        return any(r["outcome"] == "rejected" for r in self.reports)

    def message(self) -> str | None:
        return describe(self.reports)


def _checked(pieces: Iterator[str], cancel: threading.Event | None) -> Iterator[str]:
    for piece in pieces:
        if cancel is not None and cancel.is_set():
            close = getattr(pieces, "close", None)
            if close:
                close()
            raise RewriteCancelled()
        yield piece
    if cancel is not None and cancel.is_set():
        raise RewriteCancelled()
