"""Files and folders readable by the user alone, written so a crash never leaves half a file.

Everything voiced keeps (tokens, the writer's prose, datasets, adapters, state)
goes through here: one atomic writer, one way to make private folders, and the
two modes, so no other module spells 0o600 or 0o700.

A write is atomic and, by default, durable: the new content goes to a unique
temporary file beside the target (created 0600, never through the umask), is
flushed to disk, renamed over the target, and the folder entry is flushed too.
A reader sees the old file or the whole new one, also after a power cut.
"""

from __future__ import annotations

import io
import logging.handlers
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def make_private_dirs(directory: Path | str) -> Path:
    """Create ``directory`` and every missing level above it 0700, and make ``directory`` itself 0700.

    ``mkdir(parents=True)`` would give the levels above the default mode
    (0755 under the usual umask), so the state folder of a first `voiced train`
    would be readable by everyone. Levels that already exist are left as they are,
    except ``directory`` itself.
    """
    directory = Path(directory)
    missing = []
    level = directory
    while not level.exists():
        missing.append(level)
        if level.parent == level:
            break
        level = level.parent
    for folder in reversed(missing):
        make_private_dir(folder, exist_ok=True)
    os.chmod(directory, PRIVATE_DIR_MODE)
    return directory


def make_private_dir(folder: Path | str, *, exist_ok: bool = False) -> Path:
    """Create one folder 0700 (its parent must exist); ``exist_ok`` as for ``Path.mkdir``."""
    folder = Path(folder)
    try:
        folder.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:  # another process made it meanwhile, or the caller expects it may exist
        if not exist_ok:
            raise
        return folder
    os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is narrowed by the umask, never widened
    return folder


def make_private(path: Path | str) -> Path:
    """Narrow an existing file to 0600 or folder to 0700 (files another library wrote: weights, reports)."""
    path = Path(path)
    os.chmod(path, PRIVATE_DIR_MODE if path.is_dir() else PRIVATE_FILE_MODE)
    return path


def open_private(path: Path | str, flags: int) -> int:
    """``os.open`` a file that is created 0600 (logs, locks, databases); returns the descriptor.

    ``flags`` are the caller's (``os.O_WRONLY | os.O_APPEND``, ...); ``O_CREAT``
    is added. An existing file is narrowed to 0600 as well.
    """
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file is 0600: the stock handler opens each new file through the umask."""

    def _open(self) -> io.TextIOWrapper:  # the stock handler's hook, called for each file it starts
        fd = open_private(self.baseFilename, os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def write_private(path: Path | str, data: str | bytes, *, durable: bool = True) -> Path:
    """Replace ``path`` with ``data`` (text is UTF-8) atomically, readable by the user alone.

    The folder is created private when missing. ``durable=False`` skips the two
    fsyncs, for files that are rebuilt from others anyway (caches, reports).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return write_private_with(path, lambda temporary: temporary.write_bytes(payload), durable=durable)


def write_private_with(path: Path | str, write: Callable[[Path], object], *, durable: bool = True) -> Path:
    """Replace ``path`` atomically with what ``write(temporary_path)`` puts in a private temporary file.

    For files another library writes by name (safetensors, GGUF): ``write`` gets
    a path beside the target that already exists, empty and 0600; whatever it
    does there, the target holds the old file or the whole new one, and the
    temporary file is removed when ``write`` (or the rename) fails.
    """
    path = Path(path)
    if not path.parent.exists():
        make_private_dirs(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, PRIVATE_FILE_MODE)  # in case ``write`` replaced the file rather than filling it
        if durable:
            _sync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)
    return path


def make_private_tree(folder: Path | str) -> Path:
    """Narrow a folder and everything in it (what a library saved: checkpoints, merged models)."""
    folder = Path(folder)
    make_private(folder)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            make_private(path)
    return folder


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path | str) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
