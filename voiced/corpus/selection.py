"""Which files of a voice's folders are prose to read.

One set of rules serves the scanner (walking a folder) and the watcher (judging
one path from an event): hidden, temporary, backup and lock files never count;
`.voicedignore` files (gitignore syntax) apply to their own subtree; the voice's
exclude globs always win; include globs (or, without them, the supported
formats) pick the files. Symlinked folders are followed once: a link back to a
folder already visited is not walked again. What a walk cannot enter (a folder
it may not list, a symbolic-link loop) is reported, never skipped in silence.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from voiced.config import VoiceConfig
from voiced.corpus.records import WalkProblem
from voiced.extract import is_supported

IGNORE_FILE = ".voicedignore"
NOISE_SUFFIXES = (".swp", ".swo", ".swx", ".tmp", ".temp", ".bak", ".part", ".crdownload")


def is_noise(name: str) -> bool:
    """Hidden, temporary, backup and lock files and folders that editors and sync tools leave behind.

    Dot-names (`.obsidian/`, `.git/`, `.trash/`, `.#note.md`, `.note.md.swp`), Office
    lock files (`~$report.docx`), `note.md~`, Emacs `#note.md#`, `*.swp`/`*.tmp`/`*.bak`,
    and Vim's all-digit probe files (`4913`).
    """
    return (
        name.startswith((".", "~$"))
        or name.endswith("~")
        or name.isdigit()
        or (len(name) > 1 and name.startswith("#") and name.endswith("#"))
        or name.lower().endswith(NOISE_SUFFIXES)
    )


@dataclass(frozen=True)
class SeenFile:
    path: str
    size: int
    mtime_ns: int


@dataclass
class FolderWalk:
    """The selected files under one folder (or one directory inside it)."""

    folder: str
    files: list[SeenFile] = field(default_factory=list)
    linked_dirs: list[str] = field(default_factory=list)  # symlinked directories that were followed
    missing: bool = False
    problems: list[WalkProblem] = field(default_factory=list)  # folders not listed, links not followed

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(WalkProblem(path, self.folder, reason))


LOOP_REASON = (
    "A symbolic link back to a folder that contains it (a loop); it is not followed. Remove the link, or exclude it."
)


def unlistable_reason(exc: OSError) -> str:
    """Why a folder (or a link) could not be entered, and what to do; its documents are kept meanwhile."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            "Permission denied: voiced may not list this folder; its documents are kept as they were. "
            "Change its permissions, or exclude it."
        )
    if exc.errno == errno.ELOOP:
        return (
            "The path is a symbolic link loop (it points back to itself); it is not followed. Fix or remove the link."
        )
    return (
        f"Cannot list this folder ({exc.strerror or exc}); its documents are kept as they were. "
        "Check the disk, or exclude the folder."
    )


def _identities_above(path: str) -> frozenset[tuple[int, int]]:
    """The folders that contain ``path`` (after links): a link to one of them is a loop too."""
    found = set()
    level = os.path.realpath(path)
    while True:
        parent = os.path.dirname(level)
        if parent == level:
            break
        level = parent
        try:
            info = os.stat(level)
        except OSError:
            break
        found.add((info.st_dev, info.st_ino))
    return frozenset(found)


def _spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(lines)


def folder_key(folder: str | Path) -> str:
    """A configured folder as an absolute path (symlinks kept, so event paths line up)."""
    return os.path.abspath(os.path.expanduser(str(folder)))


class FileSelector:
    """The selection rules of one voice, with `.voicedignore` files cached by directory."""

    def __init__(self, voice: VoiceConfig) -> None:
        self.voice = voice.name
        self.folders = [folder_key(f) for f in voice.folders]
        self._exclude = _spec(list(voice.exclude))
        self._include = _spec(list(voice.include)) if voice.include else None
        self._ignore_files: dict[str, pathspec.GitIgnoreSpec | None] = {}

    # -- judging one path

    def folder_of(self, path: str) -> str | None:
        """The configured folder that contains ``path``, if any."""
        for folder in self.folders:
            if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
                return folder
        return None

    def selects(self, path: str) -> str | None:
        """The folder of ``path`` if it is a file this voice reads (by its name and the rules), else None."""
        folder = self.folder_of(path)
        if folder is None or path == folder:
            return None
        parts = tuple(Path(os.path.relpath(path, folder)).parts)
        for depth in range(1, len(parts)):
            if self._ignored(folder, parts[:depth], is_dir=True):
                return None
        return folder if self._wanted_file(folder, parts) else None

    def forget_ignore_file(self, directory: str) -> None:
        """A `.voicedignore` changed: read it again next time."""
        self._ignore_files.pop(directory, None)

    def _ignore_spec(self, directory: str) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._ignore_files:
            try:
                with open(os.path.join(directory, IGNORE_FILE), encoding="utf-8", errors="replace") as handle:
                    self._ignore_files[directory] = _spec(handle.read().splitlines())
            except OSError:
                self._ignore_files[directory] = None
        return self._ignore_files[directory]

    def _ignored(self, folder: str, parts: tuple[str, ...], *, is_dir: bool) -> bool:
        if is_noise(parts[-1]):
            return True
        slash = "/" if is_dir else ""
        if self._exclude.match_file("/".join(parts) + slash):
            return True
        ignored = False
        # Deeper .voicedignore files speak last, as in git.
        for depth in range(len(parts)):
            spec = self._ignore_spec(os.path.join(folder, *parts[:depth]))
            if spec is not None:
                verdict = spec.check_file("/".join(parts[depth:]) + slash).include
                if verdict is not None:
                    ignored = verdict
        return ignored

    def _wanted_file(self, folder: str, parts: tuple[str, ...]) -> bool:
        if self._ignored(folder, parts, is_dir=False):
            return False
        if self._include is not None and not self._include.match_file("/".join(parts)):
            return False
        return is_supported(Path(parts[-1]))

    # -- walking a folder

    def walk(self, folder: str, under: str | None = None) -> FolderWalk:
        """Every selected file under ``folder`` (or only under its subdirectory ``under``)."""
        result = FolderWalk(folder)
        start = under or folder
        try:
            is_dir = stat.S_ISDIR(os.stat(start).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            is_dir = False
        except OSError as exc:  # there, but not ours to enter (a folder above it is locked): keep its records
            result.problem(start, unlistable_reason(exc))
            return result
        if not is_dir:
            result.missing = start == folder
            return result
        start_parts = tuple(Path(os.path.relpath(start, folder)).parts) if start != folder else ()
        if any(self._ignored(folder, start_parts[:d], is_dir=True) for d in range(1, len(start_parts) + 1)):
            return result
        visited: set[tuple[int, int]] = set()
        # Each folder carries the identities of the folders above it, so a link back up is told apart
        # from a second link to a folder already read (followed once, no problem).
        Item = tuple[str, tuple[str, ...], bool, frozenset[tuple[int, int]]]
        stack: list[Item] = [(start, start_parts, os.path.islink(start), _identities_above(start))]
        while stack:
            directory, parts, linked, above = stack.pop()
            try:
                info = os.stat(directory)
            except FileNotFoundError:
                continue  # vanished while walking; its removal is another event's business
            except OSError as exc:
                result.problem(directory, unlistable_reason(exc))
                continue
            identity = (info.st_dev, info.st_ino)
            if identity in above:
                result.problem(directory, LOOP_REASON)
                continue
            if identity in visited:
                continue  # a second link to a folder already read
            visited.add(identity)
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
            except FileNotFoundError:
                continue
            except OSError as exc:
                result.problem(directory, unlistable_reason(exc))
                continue
            if linked and directory != start:
                result.linked_dirs.append(directory)
            for entry in entries:
                child = parts + (entry.name,)
                try:
                    if entry.is_dir():
                        if not self._ignored(folder, child, is_dir=True):
                            stack.append((entry.path, child, entry.is_symlink(), above | {identity}))
                    elif entry.is_file() and self._wanted_file(folder, child):
                        found = entry.stat()
                        result.files.append(SeenFile(entry.path, found.st_size, found.st_mtime_ns))
                except FileNotFoundError:
                    continue  # vanished while walking; the next scan sees it again
                except OSError as exc:
                    if not self._ignored(folder, child, is_dir=False):
                        result.problem(entry.path, unlistable_reason(exc))
        return result
