"""Bring the corpus in line with the folders, reading only what changed.

A file is re-read only when its size or mtime differ from the record, and
re-extracted only when its bytes differ too (a touched-but-identical file just
gets its new mtime). A new file with the bytes of a vanished one is a rename:
the document moves and keeps its passages. Records of files that are gone are
removed. Progress goes to a callback as small dicts; nothing is printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiced.config import Config, ExtractionSettings, VoiceConfig
from voiced.corpus.records import FileState, KnownDocument, content_hash
from voiced.corpus.selection import FileSelector, SeenFile
from voiced.corpus.store import CorpusStore
from voiced.extract import ExtractionError, extract_file

Progress = Callable[[dict[str, Any]], None]

BATCH_SECONDS = 0.5  # how long a scan holds one write transaction before committing


@dataclass
class ScanReport:
    """What a scan of one voice found and did."""

    voice: str
    files: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    touched: int = 0
    renamed: int = 0
    removed: int = 0
    errors: int = 0
    missing_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, ExtractionError):
        return str(getattr(exc, "reason", "") or exc)
    if isinstance(exc, PermissionError):
        return "Permission denied: voiced may not read this file. Change its permissions or exclude it."
    if isinstance(exc, OSError):
        return f"Cannot read the file ({exc.strerror or exc}). Check the disk, or exclude it."
    return f"Unexpected failure while extracting ({type(exc).__name__}: {exc}). Please report it; the file is skipped."


MovedFrom = Callable[[str], "KnownDocument | None"]


def sync_file(store: CorpusStore, voice: str, folder: str, seen: SeenFile, known: KnownDocument | None,
              settings: ExtractionSettings, moved_from: MovedFrom | None = None) -> str:
    """Bring one file's record up to date; returns the outcome (a ScanReport counter name).

    ``moved_from(content_hash)`` names the record of a file that disappeared
    with the same bytes, if any: a new file like that is a rename, and its
    record moves instead of being extracted again.
    """
    moved_from = moved_from or (lambda digest: store.vanished_with_hash(voice, digest))
    if known is not None and known.size == seen.size and known.mtime_ns == seen.mtime_ns:
        return "unchanged"
    state = FileState(voice, seen.path, folder, seen.size, seen.mtime_ns, "")
    if seen.size > settings.max_file_bytes:
        store.write_error(state, f"The file is larger than extraction.max_file_bytes ({settings.max_file_bytes} "
                                 "bytes). Raise that setting to read it, or exclude the file.")
        return "errors"
    try:
        with open(seen.path, "rb") as handle:
            digest = content_hash(handle.read())
    except FileNotFoundError:
        return "unchanged"  # gone since it was listed; its removal is someone else's event
    except OSError as exc:
        store.write_error(state, _read_error(exc))
        return "errors"
    state = FileState(voice, seen.path, folder, seen.size, seen.mtime_ns, digest)
    if known is not None and known.content_hash == digest and known.status == "ok":
        store.touch(voice, seen.path, seen.size, seen.mtime_ns)
        return "touched"
    if known is None and (old := moved_from(digest)) is not None:
        store.rename(voice, old.path, seen.path, folder)
        store.touch(voice, seen.path, seen.size, seen.mtime_ns)
        return "renamed"
    try:
        extraction = extract_file(Path(seen.path), settings)
    except FileNotFoundError:
        return "unchanged"
    except Exception as exc:  # a broken file, or a bug in one extractor, must not stop the scan
        store.write_error(state, _read_error(exc))
        return "errors"
    store.write_passages(state, extraction.passages, extraction.notes)
    return "added" if known is None else "updated"


class _Batches:
    """Commit a long scan every BATCH_SECONDS so readers see progress and the write lock is shared."""

    def __init__(self, store: CorpusStore) -> None:
        self.store = store
        self._context: Any = None
        self._started = 0.0

    def tick(self) -> None:
        if self._context is not None and time.monotonic() - self._started < BATCH_SECONDS:
            return
        self.close()
        self._context = self.store.batch()
        self._context.__enter__()
        self._started = time.monotonic()

    def close(self, exc: BaseException | None = None) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


def scan_voice(store: CorpusStore, voice: VoiceConfig, settings: ExtractionSettings,
               progress: Progress | None = None, *, under: str | None = None,
               selector: FileSelector | None = None) -> ScanReport:
    """Scan the folders of one voice (or only the directory ``under`` inside one of them)."""
    started = time.monotonic()
    selector = selector or FileSelector(voice)
    report = ScanReport(voice.name)
    folders = selector.folders
    if under is not None:
        owner = selector.folder_of(under)
        folders = [owner] if owner else []
    walks = [selector.walk(folder, under) for folder in folders]
    report.missing_folders = [walk.folder for walk in walks if walk.missing]
    seen = {file.path: (walk.folder, file) for walk in walks for file in walk.files}
    report.files = len(seen)

    if under is not None:
        known = store.known_documents(voice.name, under=under) if folders else {}
    else:
        known = store.known_documents(voice.name)
    # Records under a folder that is missing right now (an unmounted disk) are kept until it returns.
    gone = {path: doc for path, doc in known.items()
            if path not in seen and doc.folder not in report.missing_folders}
    vanished = {doc.content_hash: doc for doc in gone.values() if doc.status == "ok"}
    # A whole-voice scan knows every vanished record; a directory scan asks the store (the source may be elsewhere).
    moved_from: MovedFrom | None = (lambda digest: vanished.pop(digest, None)) if under is None else None

    todo = [(folder, file) for folder, file in seen.values()
            if not ((doc := known.get(file.path)) and doc.size == file.size and doc.mtime_ns == file.mtime_ns)]
    report.unchanged = len(seen) - len(todo)
    _emit(progress, voice=voice.name, phase="read", done=0, total=len(todo), path=None)
    batches = _Batches(store)
    try:
        for done, (folder, file) in enumerate(todo, 1):
            batches.tick()
            outcome = sync_file(store, voice.name, folder, file, known.get(file.path), settings, moved_from)
            report.count(outcome)
            _emit(progress, voice=voice.name, phase="read", done=done, total=len(todo), path=file.path)
        batches.tick()
        # A renamed record no longer sits at its old path, so this removes only what is really gone.
        report.removed = store.remove(voice.name, gone)
    except BaseException as exc:
        batches.close(exc)
        raise
    batches.close()
    report.seconds = time.monotonic() - started
    _emit(progress, voice=voice.name, phase="done", done=len(todo), total=len(todo), path=None)
    return report


def _emit(progress: Progress | None, **event: Any) -> None:
    if progress is not None:
        progress(event)


def scan(store: CorpusStore, config: Config, voices: Iterable[str] | None = None,
         progress: Progress | None = None) -> list[ScanReport]:
    """Scan every voice (or the named ones); a full scan also forgets voices no longer configured."""
    names = list(config.voices) if voices is None else list(voices)
    reports = [scan_voice(store, config.voice(name), config.extraction, progress) for name in names]
    if voices is None:
        store.remove_voices_except(config.voices)
    return reports


def rescan_directory(store: CorpusStore, voice: VoiceConfig, settings: ExtractionSettings, directory: str,
                     selector: FileSelector | None = None) -> ScanReport:
    """Re-sync one directory of a voice (a folder created, moved in or out, or a changed `.voicedignore`)."""
    return scan_voice(store, voice, settings, under=os.path.abspath(directory), selector=selector)
