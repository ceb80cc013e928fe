"""Keep the corpus in step with the writing folders while files change.

An embeddable component (the daemon runs one; `voiced watch` runs one in the
foreground): watchdog observers on every folder of every voice feed a
debouncer, and one worker thread applies each quiet file or directory to the
store with the scanner's rules. A rename inside a voice moves the record; a
move out deletes it; a move in adds it. A folder that disappears keeps its
records (a disk may simply be unmounted) and is re-armed and re-scanned when it
comes back, checked every ``watch.rescan_missing_seconds``. A changed
configuration (:meth:`CorpusWatcher.reconfigure`) re-arms the folders and
re-scans: added folders are read, records of removed ones leave the corpus.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from voiced.config import Config
from voiced.corpus.damage import check_file, damaged
from voiced.corpus.debounce import Debouncer
from voiced.corpus.records import CorpusError
from voiced.corpus.scanner import Progress, rescan_directory, scan, sync_file
from voiced.corpus.selection import IGNORE_FILE, FileSelector, SeenFile
from voiced.corpus.store import CorpusStore

log = logging.getLogger(__name__)

OnChange = Callable[[dict[str, Any]], None]
IGNORED_EVENTS = {"opened", "closed_no_write"}


class _Forward(FileSystemEventHandler):
    def __init__(self, watcher: CorpusWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.watcher._on_event(event)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


class CorpusWatcher:
    """Watch every configured folder and apply changes to ``store``; ``start()``/``stop()``, thread-based.

    ``on_change`` receives a dict per change applied, after it is committed:
    ``{"voice", "path", "change", "time"}`` with change one of added, updated,
    touched, renamed, removed, errors, folder-missing, folder-back, scanned.
    """

    def __init__(
        self,
        store: CorpusStore,
        config: Config,
        on_change: OnChange | None = None,
        *,
        scan_first: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.on_change = on_change
        self.progress = progress
        self.scan_first = scan_first
        self._selectors = {name: FileSelector(voice) for name, voice in config.voices.items()}
        self._pending: Debouncer[tuple[str, str, str]] = Debouncer(config.watch.debounce_seconds)  # kind, voice, path
        self._moves: dict[str, str] = {}  # destination -> source, applied when the destination is due
        self._moves_lock = threading.Lock()
        self._armed: dict[str, tuple[tuple[int, int], list[Any]]] = {}  # folder -> (identity, watches)
        self._linked: set[str] = set()
        self._observer: Any = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._check_folders = threading.Event()
        self._arming = threading.RLock()  # the folder poller and reconfigure() both arm and disarm
        self.ready = threading.Event()  # set once the folders are watched (and the first scan is done)
        self.damage: str | None = None  # set when the first scan found the database damaged; nothing is written

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Arm the observers (before returning, so no later edit is missed) and start the worker."""
        self._observer = Observer()
        self._observer.start()
        with self._arming:
            for voice, folder in self._folders():
                self._arm(voice, folder, rescan=False)
        for target in (self._work, self._poll_folders):
            thread = threading.Thread(target=target, name=f"voiced-{target.__name__.strip('_')}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if not self.scan_first:
            self.ready.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._check_folders.set()
        self._pending.close()
        if self._observer is not None:
            _stop_observer(self._observer, timeout)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every pending change has been applied (for tests, benchmarks and `voiced watch --once`)."""
        return self.ready.wait(timeout) and self._pending.wait_idle(timeout)

    def __enter__(self) -> CorpusWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reconfigure(self, config: Config) -> None:
        """Follow a new configuration: watch the folders it adds, stop watching those it drops, then
        scan every voice in the worker (new folders are read; a removed folder's or voice's records go)."""
        with self._arming:
            before = set(self._folders())
            self.config = config
            self._selectors = {name: FileSelector(voice) for name, voice in config.voices.items()}
            after = set(self._folders())
            for _voice, folder in sorted(before - after):
                if folder in self._armed and folder not in {f for _, f in after}:
                    self._unwatch(folder)
            for voice, folder in sorted(after - before):
                if folder not in self._armed:
                    self._arm(voice, folder, rescan=False)
        self._pending.push(("scan", "", ""), delay=0)

    # --------------------------------------------------------------- arming

    def _folders(self) -> list[tuple[str, str]]:
        return [(name, folder) for name, sel in self._selectors.items() for folder in sel.folders]

    def _arm(self, voice: str, folder: str, *, rescan: bool) -> None:
        identity = _identity(folder)
        if identity is None:
            self._emit(voice, folder, "folder-missing")
            return
        handler = _Forward(self)
        try:
            watches = [self._observer.schedule(handler, folder, recursive=True)]
            # Symlinked folders inside are followed like the scanner follows them (loops broken there).
            for linked in self._selectors[voice].walk(folder).linked_dirs:
                watches.append(self._observer.schedule(handler, linked, recursive=True))
        except OSError as exc:
            log.warning("Cannot watch %s: %s; will retry.", folder, exc)
            return
        self._armed[folder] = (identity, watches)
        if rescan:
            self._pending.push(("dir", voice, folder), delay=0)
            self._emit(voice, folder, "folder-back")

    def _unwatch(self, folder: str) -> None:
        _, watches = self._armed.pop(folder)
        for watch in watches:
            try:
                self._observer.unschedule(watch)
            except Exception:  # the emitter may already have died with its folder
                pass

    def _disarm(self, voice: str, folder: str) -> None:
        self._unwatch(folder)
        self._emit(voice, folder, "folder-missing")

    def _poll_folders(self) -> None:
        """Re-arm folders that came back (or were replaced by a new folder of the same name)."""
        while not self._stopping.is_set():
            self._check_folders.wait(self.config.watch.rescan_missing_seconds)
            self._check_folders.clear()
            if self._stopping.is_set():
                return
            with self._arming:
                for voice, folder in self._folders():
                    armed = self._armed.get(folder)
                    identity = _identity(folder)
                    if armed is not None and armed[0] != identity:
                        self._disarm(voice, folder)
                        armed = None
                    if armed is None and identity is not None:
                        self._arm(voice, folder, rescan=True)

    # --------------------------------------------------------------- events

    def _owner(self, path: str) -> tuple[str, FileSelector] | None:
        for name, selector in self._selectors.items():
            if selector.folder_of(path) is not None:
                return name, selector
        return None

    def _on_event(self, event: FileSystemEvent) -> None:
        """Runs on the observer thread: only note what to look at, never do the work here."""
        kind = event.event_type
        if kind in IGNORED_EVENTS or (event.is_directory and kind in ("modified", "attrib", "closed")):
            return
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        for path in filter(None, (src, dest)):
            if os.path.basename(path) == IGNORE_FILE:
                for selector in self._selectors.values():
                    selector.forget_ignore_file(os.path.dirname(path))
                self._queue_dir(os.path.dirname(path))
        if event.is_directory:
            if src in self._armed and kind in ("deleted", "moved"):
                self._check_folders.set()  # the watched folder itself went away
            if kind == "moved" and dest:
                self._note_move(src, dest)
            for path in filter(None, (src, dest)):
                self._queue_dir(path)
            return
        if kind == "moved" and dest:
            self._note_move(src, dest)
            self._queue_file(dest)
        self._queue_file(src)

    def _note_move(self, src: str, dest: str) -> None:
        if self._owner(dest) is None:
            return  # moved out: the source's own event removes it
        with self._moves_lock:
            self._moves[dest] = src

    def _queue_file(self, path: str) -> None:
        owner = self._owner(path)
        if owner is not None:
            self._pending.push(("file", owner[0], path))

    def _queue_dir(self, path: str) -> None:
        owner = self._owner(path)
        if owner is not None:
            self._pending.push(("dir", owner[0], path))

    # --------------------------------------------------------------- worker

    def _work(self) -> None:
        if self.scan_first:
            if self._damaged():
                self.ready.set()
                return  # never write into a damaged database; `voiced corpus rebuild` makes a new one
            self._scan_all("The first scan failed; watching anyway.")
            self.ready.set()
        while (due := self._pending.take()) is not None:
            # Moves first, so a renamed file is moved before its old path is found missing.
            due.sort(key=lambda item: (item[2] not in self._moves, item[0] == "dir"))
            for kind, voice, path in due:
                try:
                    if kind == "scan":
                        self._scan_all("The scan after a configuration change failed; the next change retries.")
                    elif voice not in self._selectors:
                        continue  # the voice was removed from the configuration meanwhile
                    elif kind == "file":
                        self._apply_file(voice, path)
                    else:
                        self._apply_dir(voice, path)
                except CorpusError as exc:  # the database, not the file: say what to do, no traceback
                    log.error("Could not update the corpus for %s: %s", path, exc)
                except Exception:
                    log.exception("Could not update the corpus for %s; the next change or scan retries.", path)

    def _damaged(self) -> bool:
        """The integrity check `voiced scan` runs, before the first scan writes anything."""
        try:
            problems = check_file(self.store.db_path)
        except CorpusError as exc:  # busy or unreadable, not damaged: the scan says more
            log.warning("The corpus database could not be checked: %s", exc)
            return False
        self.damage = str(damaged(self.store.db_path, problems)) if problems else None
        if self.damage:
            log.error("The corpus is not updated: %s", self.damage)
        return self.damage is not None

    def _scan_all(self, failure: str) -> None:
        try:
            for report in scan(self.store, self.config, progress=self.progress):
                self._emit(report.voice, "", "scanned")
        except CorpusError as exc:
            log.error("%s %s", failure, exc)
        except Exception:
            log.exception(failure)

    def _take_move(self, voice: str, dest: str, is_dir: bool) -> bool:
        """Apply a pending rename into ``dest`` if its source is really gone and it belongs to the same voice."""
        with self._moves_lock:
            src = self._moves.pop(dest, None)
        selector = self._selectors[voice]
        folder = selector.folder_of(dest)
        if src is None or folder is None or selector.folder_of(src) is None or os.path.lexists(src):
            return False
        if is_dir:
            return self.store.rename_tree(voice, src, dest, folder) > 0
        if selector.selects(dest) is None or self.store.document(voice, dest) is not None:
            return False
        return self.store.rename(voice, src, dest, folder)

    def _apply_file(self, voice: str, path: str) -> None:
        selector = self._selectors[voice]
        moved = self._take_move(voice, path, is_dir=False)
        try:
            info = os.stat(path)
        except OSError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            self._apply_dir(voice, path)  # a symlink to a folder appeared
            return
        folder = selector.selects(path)
        known = self.store.document(voice, path)
        if folder is not None and info is not None and stat.S_ISREG(info.st_mode):
            seen = SeenFile(path, info.st_size, info.st_mtime_ns)
            outcome = sync_file(self.store, voice, folder, seen, known, self.config.extraction)
        elif known is not None:
            self.store.remove(voice, [path])
            outcome = "removed"
        else:
            outcome = "unchanged"
        if moved:
            outcome = "renamed" if outcome in ("unchanged", "touched") else outcome
        if outcome != "unchanged":
            self._emit(voice, path, outcome)

    def _apply_dir(self, voice: str, path: str) -> None:
        moved = self._take_move(voice, path, is_dir=True)
        # Files renamed into this directory move their records before the rescan would re-read them.
        prefix = path.rstrip(os.sep) + os.sep
        with self._moves_lock:
            inside = [dest for dest in self._moves if dest.startswith(prefix)]
        for dest in inside:
            if self._take_move(voice, dest, is_dir=False):
                moved = True
                self._emit(voice, dest, "renamed")
        if path in self._armed and _identity(path) != self._armed[path][0]:
            self._check_folders.set()
            return  # the folder itself vanished or was replaced: its records wait for it to come back
        selector = self._selectors[voice]
        report = rescan_directory(self.store, self.config.voices[voice], self.config.extraction, path, selector)
        if os.path.islink(path) and _identity(path) is not None and path not in self._linked:
            self._linked.add(path)  # a symlinked folder appeared: watch inside it too
            self._observer.schedule(_Forward(self), path, recursive=True)
        changed = report.added + report.updated + report.removed + report.renamed + report.errors
        if changed or moved:
            self._emit(voice, path, "scanned")

    def _emit(self, voice: str, path: str, change: str) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change({"voice": voice, "path": path, "change": change, "time": time.time()})
        except Exception:
            log.exception("on_change callback failed")


def _stop_observer(observer: Any, timeout: float) -> None:
    """Stop watchdog's observer within ``timeout``.

    ``Observer.stop()`` joins each emitter thread without a timeout; an emitter still inside a read
    can keep it waiting forever, and `voiced watch` would then never exit after Ctrl-C. The stop
    runs in a helper thread instead: its threads are daemons, so a stop that overruns is left to
    end with the process, with a warning.
    """
    stopper = threading.Thread(target=observer.stop, name="voiced-observer-stop", daemon=True)
    stopper.start()
    stopper.join(timeout)
    if not stopper.is_alive():
        observer.join(timeout)
    if stopper.is_alive() or observer.is_alive():
        log.warning("the folder watcher did not stop within %.0f s; leaving it to end with the process", timeout)


def watch_forever(
    store: CorpusStore,
    config: Config,
    *,
    on_change: OnChange | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Scan, then keep watching until ``stop`` is set or the process is interrupted (for `voiced watch`)."""
    stop = stop or threading.Event()
    with CorpusWatcher(store, config, on_change, scan_first=True, progress=progress):
        while not stop.wait(1.0):
            pass
