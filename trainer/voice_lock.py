"""One training run per voice at a time, whoever starts it: the daemon's child, `voiced train`, a test.

A run holds an exclusive ``fcntl.flock`` on ``state_dir/training-<voice>.lock``
(0600) for its whole life, with its pid written inside. The kernel lets go of
the lock when the process ends, however it ends (``kill -9`` included), so a
lock is never stale: a second run is refused only while the first one lives.
Holding the lock also proves that any "training" version of the voice in the
registry belongs to a run that is gone, so taking it marks those failed (the
registry's own recovery cannot tell a dead run from one whose zombie has not
been reaped yet).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voiced.errors import VoicedError
from voiced.paths import Paths
from voiced.private_files import open_private

ABANDONED = "training was interrupted (the process ended before it finished)"


class TrainingRunning(VoicedError):
    """Another run trains this voice; nothing was started and nothing changed."""

    def __init__(self, voice: str, pid: int | None) -> None:
        self.voice, self.pid = voice, pid
        who = f" (pid {pid})" if pid else ""
        super().__init__(
            f"Training for voice {voice!r} is already running{who}.",
            "Wait for it to finish, or stop it: a run of the daemon with `POST /v1/train/cancel`, "
            "a `voiced train` with Ctrl-C in its terminal.",
        )


def lock_path(voice: str, paths: Paths) -> Path:
    return paths.state_dir / f"training-{voice}.lock"


def _open(voice: str, paths: Paths) -> int:
    paths.ensure_private(paths.state_dir)
    return open_private(lock_path(voice, paths), os.O_RDWR)


def _try_lock(fd: int, attempts: int = 10) -> bool:
    """Exclusive and non-blocking; a few tries ride out another process's momentary probe."""
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.02)
    return False


def _pid_in(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def running_training(voice: str, paths: Paths) -> int | None:
    """The pid of the run that trains ``voice`` now (0 if it has not written its pid yet), None when none does."""
    fd = _open(voice, paths)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _fail_abandoned_versions(voice: str, paths: Paths) -> list[int]:
    """Mark the voice's "training" versions failed; only with the voice's lock held (no live run has one)."""
    from voiced.registry import Registry

    registry = Registry.open(voice, paths)
    abandoned = [v.number for v in registry.versions() if v.manifest.status == "training"]
    for number in abandoned:
        registry.mark_failed(number, ABANDONED)
    return abandoned


@contextmanager
def training_lock(voice: str, paths: Paths) -> Iterator[None]:
    """Hold the voice's training lock for the body; :class:`TrainingRunning` when another run holds it."""
    fd = _open(voice, paths)
    try:
        if not _try_lock(fd):
            raise TrainingRunning(voice, _pid_in(fd))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _fail_abandoned_versions(voice, paths)
        yield
    finally:
        os.close(fd)  # closing lets go of the lock
