"""Requests being generated right now, by id, each with the event that cancels it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """A thread-safe map request id -> cancel event, so any request can be stopped from outside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def new_id(self) -> str:
        return "req-" + secrets.token_hex(8)

    def register(self, request_id: str) -> threading.Event:
        with self._lock:
            if request_id in self._events:
                raise KeyError(request_id)
            event = self._events[request_id] = threading.Event()
            return event

    def finish(self, request_id: str) -> None:
        with self._lock:
            self._events.pop(request_id, None)

    @contextmanager
    def track(self, request_id: str) -> Iterator[threading.Event]:
        event = self.register(request_id)
        try:
            yield event
        finally:
            self.finish(request_id)

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            event = self._events.get(request_id)
        if event is None:
            return False
        event.set()
        return True

    def cancel_all(self) -> None:
        with self._lock:
            events = list(self._events.values())
        for event in events:
            event.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
