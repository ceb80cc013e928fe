"""A training child dies with the process that started it, so no run outlives its daemon or `voiced train`.

Two guards, both armed by the child before it does any work:

- everywhere: its stdin is the read end of a pipe whose only write end the
  parent keeps (:func:`spawn`). The kernel closes that end when the parent
  ends, however it ends; a watchdog thread in the child reads end-of-file
  and kills the child.
- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, which acts at once. The kernel
  sends it when the *thread* that forked the child ends, so the parent starts
  the child from a thread that lives as long as it does (the daemon's training
  thread waits for its child; the CLI starts it from its main thread).

A kill, not a clean stop: no one is left to read the child's progress. The
voice's training lock goes with the process, and the registry marks the
unfinished version failed (its recovery, or the next run's lock).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import weakref
from typing import Any

PR_SET_PDEATHSIG = 1


def spawn(command: list[str], **popen: Any) -> subprocess.Popen:
    """``Popen(command + lifeline arguments)`` with the child's stdin on a pipe the parent alone can close.

    The write end closes with the parent, or when the returned ``Popen`` is
    collected (or :func:`release` is called) once the child is done.
    """
    read_end, write_end = os.pipe()  # both non-inheritable: no other child keeps the lifeline open
    try:
        child = subprocess.Popen([*command, "--parent", str(os.getpid()), "--lifeline"], stdin=read_end, **popen)
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    child._voiced_lifeline = weakref.finalize(child, os.close, write_end)  # type: ignore[attr-defined]
    return child


def release(child: subprocess.Popen) -> None:
    """Close the parent's end of a finished child's lifeline (idempotent)."""
    finalizer = getattr(child, "_voiced_lifeline", None)
    if finalizer is not None:
        finalizer()


def arm(parent: int | None, lifeline_fd: int | None) -> None:
    """In the child: die when ``parent`` dies (Linux) or when ``lifeline_fd`` reaches end-of-file (everywhere)."""
    if parent is not None and sys.platform.startswith("linux"):
        _set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was armed
            _die()
    if lifeline_fd is not None:
        threading.Thread(target=_watch, args=(lifeline_fd,), name="voiced-lifeline", daemon=True).start()


def _set_parent_death_signal(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:  # the pipe still guards the child
        print(f"voiced: cannot tie the training to its parent with prctl: {exc}", file=sys.stderr)


def _watch(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 64):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    _die()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
