"""A keyed debouncer: an item is due once it has been quiet for a while.

Editors save in bursts (write, rename, chmod, close); each event pushes the
item's deadline back, so the burst is handled once, shortly after it ends.
Thread-safe: producers call :meth:`push`, one consumer calls :meth:`take`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class Debouncer(Generic[Key]):
    def __init__(self, quiet_seconds: float) -> None:
        self.quiet_seconds = quiet_seconds
        self._deadlines: dict[Key, float] = {}
        self._wake = threading.Condition()
        self._busy = False
        self._closed = False

    def push(self, key: Key, *, delay: float | None = None) -> None:
        """(Re)start the quiet period of ``key``."""
        with self._wake:
            self._deadlines[key] = time.monotonic() + (self.quiet_seconds if delay is None else delay)
            self._wake.notify_all()

    def take(self) -> list[Key] | None:
        """Block until some keys are due and return them (in push order); None once closed."""
        with self._wake:
            self._busy = False
            self._wake.notify_all()
            while not self._closed:
                now = time.monotonic()
                due = [key for key, deadline in self._deadlines.items() if deadline <= now]
                if due:
                    for key in due:
                        del self._deadlines[key]
                    self._busy = True
                    return due
                timeout = min(self._deadlines.values()) - now if self._deadlines else None
                self._wake.wait(timeout)
            return None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is pending and the consumer has finished its last batch."""
        end = time.monotonic() + timeout
        with self._wake:
            while self._deadlines or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
            return True

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
