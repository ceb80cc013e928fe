"""The daemon keeps the corpus current: a scan at start, then the folder watcher, reported in /v1/status.

When the configuration changes while the daemon runs (see ``config_watch``),
:meth:`CorpusWatching.reconfigure` moves the watch to the new folders and
re-scans, starting the watcher if it had no folder to watch before.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from voiced.config import Config
from voiced.paths import Paths

log = logging.getLogger("voiced.daemon")


class CorpusWatching:
    """Owns the corpus store and watcher for the daemon's lifetime; a failure here never stops the API."""

    def __init__(self, config: Config, paths: Paths) -> None:
        self.config = config
        self.paths = paths
        self.store: Any = None
        self.watcher: Any = None
        self.error: str | None = None
        self.changes = 0
        self.last_change: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        from voiced.corpus.store import CorpusStore
        from voiced.corpus.watcher import CorpusWatcher

        try:
            self.store = CorpusStore.open(self.paths)
            self.watcher = CorpusWatcher(self.store, self.config, self._changed, scan_first=True)
            self.watcher.start()
            log.info("watching the folders of %d voice(s)", len(self.config.voices))
        except Exception as exc:  # noqa: BLE001 - reported in status; the API keeps serving
            self.error = str(exc)
            log.error("the corpus watcher could not start: %s", exc)

    def reconfigure(self, config: Config) -> None:
        """Watch the folders of ``config`` from now on; added folders are read, removed ones leave the corpus."""
        self.config = config
        if self.watcher is not None:
            self.watcher.reconfigure(config)
        elif any(v.folders for v in config.voices.values()):
            self.error = None
            self.start()

    def _changed(self, event: dict) -> None:
        with self._lock:
            self.changes += 1
            self.last_change = event.get("time", time.time())
        log.info("corpus: %s %s (%s)", event.get("change"), event.get("path"), event.get("voice"))

    def status(self) -> dict:
        with self._lock:
            return {
                "watching": self.watcher is not None and self.error is None,
                "error": self.error,
                "changes": self.changes,
                "last_change": self.last_change,
            }

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.store is not None:
            self.store.close()


def start_corpus_watching(config: Config, paths: Paths) -> CorpusWatching | None:
    """None when daemon.watch_folders is off; else the watching, started once some voice has folders."""
    if not config.daemon.watch_folders:
        return None
    watching = CorpusWatching(config, paths)
    if any(v.folders for v in config.voices.values()):
        watching.start()
    return watching
