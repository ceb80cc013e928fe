"""Run the engine's blocking generators off the event loop, and stop them when the client leaves.

The engine yields text pieces from a worker thread. The first piece is pulled
before any response header is sent, so a model that cannot load or a voice
the engine rejects still gets a proper status code; after that, errors travel
inside the stream. When the client disconnects, Starlette cancels the
response task and the ``finally`` here sets the request's cancel event, which
the engine checks between pieces.
"""

from __future__ import annotations

import json
import threading
from typing import AsyncIterator, Callable, Iterator

from anyio import CancelScope
from anyio.to_thread import run_sync

_END = object()


async def first_piece(pieces: Iterator[str]) -> object:
    """The first piece (or the end marker); raises whatever the engine raises on start."""
    return await run_sync(next, pieces, _END)


async def relay(pieces: Iterator[str], first: object, cancel: threading.Event,
                on_done: Callable[[], None]) -> AsyncIterator[str]:
    """Yield every piece, the already-pulled ``first`` included; cancel the engine if abandoned."""
    finished = False
    try:
        piece = first
        while piece is not _END:
            yield piece  # type: ignore[misc]
            piece = await run_sync(next, pieces, _END)
        finished = True
    finally:
        if not finished:
            cancel.set()
        with CancelScope(shield=True):
            close = getattr(pieces, "close", None)
            if close is not None:
                await run_sync(close)
        on_done()


def is_end(piece: object) -> bool:
    return piece is _END


def ndjson(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def sse(obj: dict | str) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n"
