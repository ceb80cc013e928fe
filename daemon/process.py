"""Start, stop and inspect the background daemon from another process (the CLI, the LSP).

Torch-free: it spawns ``python -m voiced daemon run`` in a new session and
talks to it only through ``daemon.json``, the lock and ``/v1/status``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from voiced.config import daemon_settings
from voiced.daemon.state import DaemonRecord, live_record, lock_is_held, log_path, read_record, remove_record
from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths
from voiced.private_files import open_private

POLL_SECONDS = 0.1


class DaemonProcessError(VoicedError):
    """Starting or stopping failed; the message says why and what to do."""


def answers(record: DaemonRecord, timeout: float = 2.0) -> bool:
    """True when the daemon in ``record`` answers /v1/status with its token."""
    try:
        response = httpx.get(
            f"{record.base_url}/v1/status", timeout=timeout, headers={"Authorization": f"Bearer {record.token}"}
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def answering_record(paths: Paths | None = None, timeout: float = 10.0) -> DaemonRecord | None:
    """The running daemon's record once it answers; None when none runs.

    A daemon that holds the lock but does not answer is starting up or dying
    (a killed process releases its lock a moment after its sockets): wait to see which.
    """
    record = live_record(paths)
    deadline = time.monotonic() + timeout
    while record is not None and not answers(record):
        if time.monotonic() > deadline:
            raise DaemonProcessError(
                f"The voiced daemon (pid {record.pid}) is running but not answering. "
                "Try `voiced daemon restart`, and `voiced daemon logs` to see why."
            )
        time.sleep(POLL_SECONDS)
        record = live_record(paths)
    return record


def clear_stale(paths: Paths | None = None) -> bool:
    """Remove a ``daemon.json`` left by a daemon that died without cleaning up; True if one was removed."""
    record = read_record(paths)
    if record is not None and live_record(paths) is None:
        remove_record(paths)
        return True
    return False


def log_tail(paths: Paths | None = None, lines: int = 20) -> list[str]:
    try:
        with open(log_path(paths), encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except FileNotFoundError:
        return []


def start_daemon(
    paths: Paths | None = None, *, timeout: float | None = None, port: int | None = None
) -> tuple[DaemonRecord, bool]:
    """Ensure a daemon runs; returns its record and whether this call started it.

    ``timeout`` (seconds to wait for the API to answer) is ``[daemon] start_timeout_seconds`` unless given."""
    paths = paths or get_paths()
    timeout = daemon_settings(paths).start_timeout_seconds if timeout is None else timeout
    running = answering_record(paths)
    if running is not None:
        return running, False
    clear_stale(paths)
    paths.ensure_private(paths.logs_dir)
    command = [sys.executable, "-m", "voiced", "daemon", "run"]
    if port is not None:
        command += ["--port", str(port)]
    log_fd = open_private(log_path(paths), os.O_WRONLY | os.O_APPEND)
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
            close_fds=True,
            env=os.environ.copy(),
        )
    finally:
        os.close(log_fd)
    # Reap the child when it exits, so a long-lived caller (the LSP) keeps no zombie.
    threading.Thread(target=child.wait, name="voiced-daemon-reaper", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = read_record(paths)
        if record is not None and answers(record):
            return record, record.pid == child.pid
        if child.poll() is not None:
            other = live_record(paths)
            if other is not None and answers(other):  # lost a race to another start: use the winner
                return other, False
            raise DaemonProcessError(_start_failure(paths, f"it exited with status {child.returncode}"))
        time.sleep(POLL_SECONDS)
    raise DaemonProcessError(_start_failure(paths, f"it did not answer within {timeout:.0f} s"))


def _start_failure(paths: Paths, what: str) -> str:
    tail = "\n".join("  " + line for line in log_tail(paths, 8))
    return (
        f"The voiced daemon did not start: {what}. Last lines of {log_path(paths)}:\n{tail}\n"
        "Fix the cause shown there, or run `voiced daemon run` to see it in the foreground."
    )


def stop_daemon(paths: Paths | None = None, *, timeout: float | None = None) -> DaemonRecord | None:
    """SIGTERM, then SIGKILL after ``timeout`` (``[daemon] stop_timeout_seconds`` unless given); returns the
    stopped daemon's record, None if none ran."""
    paths = paths or get_paths()
    timeout = daemon_settings(paths).stop_timeout_seconds if timeout is None else timeout
    record = live_record(paths)
    if record is None:
        clear_stale(paths)
        return None
    _signal(record.pid, signal.SIGTERM)
    if not _wait_until_stopped(paths, record.pid, timeout):
        _signal(record.pid, signal.SIGKILL)
        if not _wait_until_stopped(paths, record.pid, 5.0):
            raise DaemonProcessError(
                f"The daemon (pid {record.pid}) did not stop even after SIGKILL.",
                f"It may be stuck in the kernel (a hung disk): check `ps -p {record.pid}`, then `voiced daemon start`.",
            )
    remove_record(paths, pid=record.pid)
    return record


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_until_stopped(paths: Paths, pid: int, timeout: float) -> bool:
    """The lock, not the pid, tells: a stopped daemon may linger as a zombie of its parent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lock_is_held(paths):
            return True
        time.sleep(POLL_SECONDS)
    return not lock_is_held(paths)


@dataclass(frozen=True)
class DaemonStatus:
    running: bool
    record: DaemonRecord | None = None
    uptime_seconds: float | None = None
    details: dict | None = None  # /v1/status, when it answered
    stale_record_removed: bool = False


def daemon_status(paths: Paths | None = None) -> DaemonStatus:
    paths = paths or get_paths()
    record = live_record(paths)
    if record is None:
        return DaemonStatus(running=False, stale_record_removed=clear_stale(paths))
    details = None
    try:
        response = httpx.get(
            f"{record.base_url}/v1/status", timeout=5.0, headers={"Authorization": f"Bearer {record.token}"}
        )
        if response.status_code == 200:
            details = response.json()
    except httpx.HTTPError:
        pass
    return DaemonStatus(running=True, record=record, uptime_seconds=time.time() - record.started_at, details=details)


def follow_log(path: Path, stop: threading.Event | None = None, poll: float = 0.5) -> Iterator[str]:
    """Lines appended to ``path`` from now on (``voiced daemon logs -f``); survives rotation."""
    handle = None
    inode = None
    first_open = True
    while stop is None or not stop.is_set():
        if handle is None:
            try:
                handle = open(path, encoding="utf-8", errors="replace")
                inode = os.fstat(handle.fileno()).st_ino
                if first_open:  # after a rotation, the new file is read from its start
                    handle.seek(0, os.SEEK_END)
                    first_open = False
            except FileNotFoundError:
                time.sleep(poll)
                continue
        line = handle.readline()
        if line:
            yield line.rstrip("\n")
            continue
        try:
            if os.stat(path).st_ino != inode:
                handle.close()
                handle = None
                continue
        except FileNotFoundError:
            pass
        time.sleep(poll)
