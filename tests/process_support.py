"""Helpers for tests that drive real processes: the `voiced` CLI, waiting for a condition, process ends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_voiced(*args: str, check: bool = True, input: str | None = None, timeout: float = 300):
    """Run the real `voiced` CLI in a subprocess with the test's VOICED_HOME."""
    result = subprocess.run(
        [sys.executable, "-m", "voiced", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        input=input,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"voiced {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def wait_for(condition: Callable[[], T], what: str, *, timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy and return it; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


async def wait_for_async(condition: Callable[[], T], what: str, *, timeout: float = 10.0, interval: float = 0.05) -> T:
    """:func:`wait_for` on an event loop, which keeps running (an LSP client's messages) while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


def gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaps counts: it runs nothing and holds no files)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def kill9(pid: int, paths=None) -> None:
    """SIGKILL a daemon and wait until its lock is free (``paths``: its folders; the test's VOICED_HOME if None)."""
    from voiced.daemon.state import live_record

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: live_record(paths) is None, "the killed daemon to release its lock", timeout=30)
