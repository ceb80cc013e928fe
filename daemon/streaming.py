"""Carry the engine's blocking stream onto the event loop, and stop it when the client leaves.

The engine yields text pieces from its worker thread. Each request gets one
relay thread that drains that stream into a buffer, so a token costs no hop
through the thread pool; the thread wakes the event loop
(``loop.call_soon_threadsafe``) only when it waits for text, and the loop sends what has
gathered at most every ``SEND_INTERVAL`` (a piece may hold a few tokens), so
the daemon and its client do little per token beside the model.

The first piece is awaited before any response header is sent, so a model
that cannot load or a voice the engine rejects still gets a proper status
code; after that, errors travel inside the stream. When the client
disconnects, Starlette cancels the response task and the ``finally`` here
sets the request's cancel event: the engine checks it between tokens, and the
relay thread stops pulling and closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from voiced.inference.generation import GenerationCancelled
from voiced.inference.rewrite_guard import GuardReport

_END = object()


SEND_INTERVAL = 0.02  # seconds between two sends of one stream: a few tokens per send, unnoticeable to a reader


class Relay:
    """One request's stream, drained on a thread of its own and handed to the event loop in batches."""

    def __init__(self, pieces: Iterator[str], cancel: threading.Event, *, interval: float = SEND_INTERVAL) -> None:
        self._pieces = pieces
        self._cancel = cancel
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._ready: list[str] = []  # pieces the event loop has not taken yet
        self._end: object = None  # once the stream is over: the end marker or the exception that ended it
        self._waiting = False  # the event loop waits for _wake; only then does the thread wake it
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()  # cuts the pause between sends short: the last piece goes at once
        self._thread = threading.Thread(target=self._drain, name="voiced-relay", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """Runs on the relay thread: every piece, then the end marker or the exception that ended it."""
        last: object = _END
        try:
            for piece in self._pieces:
                self._hand_over(piece, None)
                if self._cancel.is_set():
                    last = GenerationCancelled("The request was cancelled.")
                    break
        except BaseException as exc:  # handed to the event loop, raised there
            last = exc
        finally:
            close = getattr(self._pieces, "close", None)
            if close is not None:
                try:
                    close()  # on this thread: the stream is never closed while another thread reads it
                except Exception:  # noqa: BLE001 - the outcome is already decided
                    pass
        self._hand_over(None, last)

    def _hand_over(self, piece: str | None, end: object) -> None:
        with self._lock:
            if piece:
                self._ready.append(piece)
            if end is not None:
                self._end = end
            wake, self._waiting = self._waiting, False
        try:
            if wake:
                self._loop.call_soon_threadsafe(self._wake.set)
            if end is not None:
                self._loop.call_soon_threadsafe(self._ended.set)
        except RuntimeError:  # the loop is closed: the daemon is shutting down and nobody reads
            self._cancel.set()

    async def _take(self) -> tuple[str, object]:
        """Every piece ready now, joined (waits for at least one, or for the end)."""
        while True:
            with self._lock:
                ready, self._ready = self._ready, []
                end = self._end
                if not ready and end is None:
                    self._waiting = True
                    self._wake.clear()
            if ready or end is not None:
                return "".join(ready), end
            await self._wake.wait()

    async def first(self) -> object:
        """The first piece(s), or the end marker; raises whatever the engine raised on start."""
        text, end = await self._take()
        if text:
            return text
        if isinstance(end, BaseException):
            raise end
        return _END

    async def rest(self, first: object, on_done: Callable[[], None]) -> AsyncIterator[str]:
        """``first``, then what follows, in batches; cancels the engine if the reader leaves early."""
        finished = first is _END
        try:
            if finished:
                return
            assert isinstance(first, str)  # first() returns the text or the end marker
            yield first
            while True:
                with contextlib.suppress(asyncio.TimeoutError):  # let a few pieces gather: fewer writes
                    await asyncio.wait_for(self._ended.wait(), self._interval)
                text, end = await self._take()
                if text:
                    yield text
                if end is not None:
                    finished = True
                    if end is not _END:
                        assert isinstance(end, BaseException)  # the end marker, or what ended the stream
                        raise end
                    return
        finally:
            if not finished:
                self._cancel.set()  # the relay thread and the engine stop within a token
            on_done()


def ndjson(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def sse(obj: dict | str) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n"


class Reports:
    """What the rewrite guard said about a request's paragraphs: appended on the engine's worker thread,
    read on the event loop, each handed out once, in order (``new``); ``all`` for a whole response."""

    def __init__(self) -> None:
        self._items: list[dict] = []
        self._sent = 0

    def add(self, report: GuardReport) -> None:
        self._items.append(report.to_dict())

    def new(self) -> list[dict]:
        items = self._items[self._sent :]
        self._sent += len(items)
        return items

    @property
    def all(self) -> list[dict]:
        return list(self._items)
