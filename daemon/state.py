"""The daemon's record on disk: who is running, where, and with which token.

``state_dir/daemon.json`` (0600) holds ``{"pid", "port", "host", "token",
"started_at", "version"}``; ``state_dir/daemon.lock`` is held with an
exclusive ``fcntl`` lock for as long as the daemon lives, so the lock, not
the record, decides whether a daemon is running: a record left behind by a
crash (lock free, or pid gone) is stale and is replaced by the next start.
Torch-free: the client and the LSP import this.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths
from voiced.private_files import open_private, write_private

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class DaemonRecord:
    """What ``daemon.json`` says about the running daemon."""

    pid: int
    port: int
    host: str
    token: str
    started_at: float
    version: str = ""

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def record_path(paths: Paths | None = None) -> Path:
    return (paths or get_paths()).state_dir / "daemon.json"


def lock_path(paths: Paths | None = None) -> Path:
    return (paths or get_paths()).state_dir / "daemon.lock"


def log_path(paths: Paths | None = None) -> Path:
    return (paths or get_paths()).logs_dir / "daemon.log"


def write_record(record: DaemonRecord, paths: Paths | None = None) -> Path:
    """Write ``daemon.json`` atomically, readable by the user alone (it holds the token)."""
    paths = paths or get_paths()
    paths.ensure_private(paths.state_dir)
    return write_private(record_path(paths), json.dumps(asdict(record)))


def read_record(paths: Paths | None = None) -> DaemonRecord | None:
    """The record as written, or None when absent or unreadable (a half-written or foreign file)."""
    try:
        data = json.loads(record_path(paths).read_text(encoding="utf-8"))
        return DaemonRecord(
            pid=int(data["pid"]),
            port=int(data["port"]),
            host=str(data["host"]),
            token=str(data["token"]),
            started_at=float(data["started_at"]),
            version=str(data.get("version", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_record(paths: Paths | None = None, *, pid: int | None = None) -> None:
    """Delete the record; with ``pid``, only if it is still that process's record."""
    if pid is not None:
        current = read_record(paths)
        if current is not None and current.pid != pid:
            return
    try:
        record_path(paths).unlink()
    except FileNotFoundError:
        pass


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def lock_is_held(paths: Paths | None = None) -> bool:
    """True while some process holds the daemon lock (i.e. a daemon is alive)."""
    path = lock_path(paths)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


class AlreadyRunning(VoicedError):
    """Another daemon holds the lock."""


class DaemonLock:
    """The exclusive lock a daemon holds for its whole life; released by the kernel on any exit."""

    def __init__(self, paths: Paths | None = None) -> None:
        self.paths = paths or get_paths()
        self._fd: int | None = None

    def acquire(self) -> None:
        self.paths.ensure_private(self.paths.state_dir)
        fd = open_private(lock_path(self.paths), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            running = live_record(self.paths)
            where = f" (pid {running.pid}, port {running.port})" if running else ""
            raise AlreadyRunning(
                f"Another voiced daemon is already running{where}. "
                "Use `voiced daemon status`, or `voiced daemon restart` to replace it."
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def live_record(paths: Paths | None = None) -> DaemonRecord | None:
    """The record of a daemon that is really running; None when absent or stale."""
    record = read_record(paths)
    if record is None or not pid_alive(record.pid) or not lock_is_held(paths):
        return None
    return record
