"""Bring the corpus in line with the folders, reading only what changed.

A file is re-read only when its size or mtime differ from the record, and
re-extracted only when its bytes differ too (a touched-but-identical file just
gets its new mtime). A new file with the bytes of a vanished one is a rename:
the document moves and keeps its passages. Records of files that are gone are
removed; records under a folder the walk could not enter (unreadable right now,
a link loop) are kept, and the folder is recorded for `voiced corpus --errors`.
Progress goes to a callback as small dicts; nothing is printed.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
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
PARALLEL_MIN_FILES = 64  # below this many files to read, worker processes cost more than they save
IN_FLIGHT_PER_WORKER = 4  # extractions queued per worker, bounding memory held in results


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
    unreadable: list[str] = field(default_factory=list)  # folders and links the walk could not enter
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
Extracted = tuple[str, Any]  # ("ok", Extraction) | ("vanished", None) | ("error", reason)


def _extract(path: str, settings: ExtractionSettings) -> Extracted:
    """Extract one file. Also runs in worker processes, so failures come back as values, not exceptions."""
    try:
        return "ok", extract_file(Path(path), settings)
    except FileNotFoundError:
        return "vanished", None  # gone since it was listed; its removal is someone else's event
    except Exception as exc:  # a broken file, or a bug in one extractor, must not stop the scan
        return "error", _read_error(exc)


def _prepare(
    store: CorpusStore,
    voice: str,
    folder: str,
    seen: SeenFile,
    known: KnownDocument | None,
    settings: ExtractionSettings,
    moved_from: MovedFrom,
) -> str | FileState:
    """Everything short of extraction: an outcome when that settles the file, else the state to extract."""
    if known is not None and known.size == seen.size and known.mtime_ns == seen.mtime_ns:
        return "unchanged"
    state = FileState(voice, seen.path, folder, seen.size, seen.mtime_ns, "")
    if seen.size > settings.max_file_bytes:
        store.write_error(
            state,
            f"The file is larger than extraction.max_file_bytes ({settings.max_file_bytes} "
            "bytes). Raise that setting to read it, or exclude the file.",
        )
        return "errors"
    try:
        with open(seen.path, "rb") as handle:
            digest = content_hash(handle.read())
    except FileNotFoundError:
        return "unchanged"
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
    return state


def _finish(store: CorpusStore, state: FileState, known: KnownDocument | None, extracted: Extracted) -> str:
    """Store an extraction (or its failure) for a file; returns the outcome."""
    kind, value = extracted
    if kind == "vanished":
        return "unchanged"
    if kind == "error":
        store.write_error(state, value)
        return "errors"
    store.write_passages(state, value.passages, value.notes)
    return "added" if known is None else "updated"


def sync_file(
    store: CorpusStore,
    voice: str,
    folder: str,
    seen: SeenFile,
    known: KnownDocument | None,
    settings: ExtractionSettings,
    moved_from: MovedFrom | None = None,
) -> str:
    """Bring one file's record up to date; returns the outcome (a ScanReport counter name).

    ``moved_from(content_hash)`` names the record of a file that disappeared
    with the same bytes, if any: a new file like that is a rename, and its
    record moves instead of being extracted again.
    """
    moved_from = moved_from or (lambda digest: store.vanished_with_hash(voice, digest))
    ready = _prepare(store, voice, folder, seen, known, settings, moved_from)
    if isinstance(ready, str):
        return ready
    return _finish(store, ready, known, _extract(seen.path, settings))


def _worker_count(setting: int, files: int) -> int:
    """Extraction processes for a scan; none (0) for a small one, where starting them costs more."""
    workers = setting or min(os.cpu_count() or 1, 8)
    return 0 if workers <= 1 or files < PARALLEL_MIN_FILES else workers


def _worker_pool(workers: int) -> ProcessPoolExecutor | None:
    if not workers:
        return None
    methods = multiprocessing.get_all_start_methods()
    # Never fork: the daemon that scans has threads (the watcher, the HTTP server).
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


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


def scan_voice(
    store: CorpusStore,
    voice: VoiceConfig,
    settings: ExtractionSettings,
    progress: Progress | None = None,
    *,
    under: str | None = None,
    selector: FileSelector | None = None,
    workers: int = 1,
) -> ScanReport:
    """Scan the folders of one voice (or only the directory ``under`` inside one of them).

    ``workers`` extraction processes run when there is much to read (0: one per core).
    """
    started = time.monotonic()
    selector = selector or FileSelector(voice)
    report = ScanReport(voice.name)
    folders = selector.folders
    if under is not None:
        owner = selector.folder_of(under)
        folders = [owner] if owner else []
    walks = [selector.walk(folder, under) for folder in folders]
    report.missing_folders = [walk.folder for walk in walks if walk.missing]
    problems = [problem for walk in walks for problem in walk.problems]
    report.unreadable = [problem.path for problem in problems]
    seen = {file.path: (walk.folder, file) for walk in walks for file in walk.files}
    report.files = len(seen)

    if under is not None:
        known = store.known_documents(voice.name, under=under) if folders else {}
    else:
        known = store.known_documents(voice.name)
    # Records under a folder that is missing right now (an unmounted disk) or that cannot be listed
    # (permissions, a link loop) are kept until it can be read again.
    gone = {
        path: doc
        for path, doc in known.items()
        if path not in seen and doc.folder not in report.missing_folders and not _inside_any(path, report.unreadable)
    }
    vanished = {doc.content_hash: doc for doc in gone.values() if doc.status == "ok"}
    # A whole-voice scan knows every vanished record; a directory scan asks the store (the source may be elsewhere).
    moved_from: MovedFrom = (
        (lambda digest: vanished.pop(digest, None))
        if under is None
        else (lambda digest: store.vanished_with_hash(voice.name, digest))
    )

    todo = [
        (folder, file)
        for folder, file in seen.values()
        if not ((doc := known.get(file.path)) and doc.size == file.size and doc.mtime_ns == file.mtime_ns)
    ]
    report.unchanged = len(seen) - len(todo)
    _emit(progress, voice=voice.name, phase="read", done=0, total=len(todo), path=None)
    batches = _Batches(store)
    workers = _worker_count(workers, len(todo))
    pool = _worker_pool(workers)
    in_flight: deque[tuple[SeenFile, KnownDocument | None, FileState, Future[Extracted]]] = deque()
    done = 0

    def record(outcome: str, file: SeenFile) -> None:
        nonlocal done
        done += 1
        report.count(outcome)
        _emit(progress, voice=voice.name, phase="read", done=done, total=len(todo), path=file.path)

    def finish_oldest() -> None:
        batches.tick()
        file, doc, state, future = in_flight.popleft()
        record(_finish(store, state, doc, future.result()), file)

    try:
        for folder, file in todo:
            batches.tick()
            doc = known.get(file.path)
            ready = _prepare(store, voice.name, folder, file, doc, settings, moved_from)
            if isinstance(ready, str):
                record(ready, file)
            elif pool is None:
                record(_finish(store, ready, doc, _extract(file.path, settings)), file)
            else:
                in_flight.append((file, doc, ready, pool.submit(_extract, file.path, settings)))
                while len(in_flight) > IN_FLIGHT_PER_WORKER * workers:
                    finish_oldest()
        while in_flight:
            finish_oldest()
        batches.tick()
        # A renamed record no longer sits at its old path, so this removes only what is really gone.
        report.removed = store.remove(voice.name, gone)
        if folders:
            store.replace_walk_problems(voice.name, problems, under=under)
    except BaseException as exc:
        batches.close(exc)
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    batches.close()
    report.seconds = time.monotonic() - started
    _emit(progress, voice=voice.name, phase="done", done=len(todo), total=len(todo), path=None)
    return report


def _inside_any(path: str, directories: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in directories)


def _emit(progress: Progress | None, **event: Any) -> None:
    if progress is not None:
        progress(event)


def scan(
    store: CorpusStore, config: Config, voices: Iterable[str] | None = None, progress: Progress | None = None
) -> list[ScanReport]:
    """Scan every voice (or the named ones); a full scan also forgets voices no longer configured."""
    names = list(config.voices) if voices is None else list(voices)
    reports = [
        scan_voice(store, config.voice(name), config.extraction, progress, workers=config.watch.scan_workers)
        for name in names
    ]
    if voices is None:
        store.remove_voices_except(config.voices)
    return reports


def rescan_directory(
    store: CorpusStore,
    voice: VoiceConfig,
    settings: ExtractionSettings,
    directory: str,
    selector: FileSelector | None = None,
) -> ScanReport:
    """Re-sync one directory of a voice (a folder created, moved in or out, or a changed `.voicedignore`)."""
    return scan_voice(store, voice, settings, under=os.path.abspath(directory), selector=selector)
