"""One action's cancellation, which costs nothing unless the user cancels.

An action runs its paragraphs one after the other, each a daemon request. The
worker thread says which request is generating (`generating`); a cancel (from
`$/cancelRequest` or the progress's cancel button, on the event loop) sets the
event the worker checks between pieces and forwards a stop to the daemon for
that one request only. A finished request is forgotten at once: no thread waits
for it and nothing is sent for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from voiced.lsp.rewriting import RewriteCancelled


class Cancellation:
    """The cancel switch of one action; ``forward(request_id)`` stops a request in the daemon."""

    def __init__(self, forward: Callable[[str], None]) -> None:
        self.event = threading.Event()
        self._forward = forward
        self._lock = threading.Lock()
        self._generating: str | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    @contextmanager
    def generating(self, request_id: str) -> Iterator[None]:
        """Mark ``request_id`` as the daemon request running now (worker thread)."""
        with self._lock:
            if self.event.is_set():
                raise RewriteCancelled()
            self._generating = request_id
        try:
            yield
        finally:
            with self._lock:
                self._generating = None

    def cancel(self) -> None:
        """Stop the action (any thread, more than once): the request running now is stopped in the daemon."""
        with self._lock:
            if self.event.is_set():
                return
            self.event.set()
            running = self._generating
        if running is not None:
            self._forward(running)
