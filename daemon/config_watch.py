"""The daemon follows its configuration file, so `voiced add`, `voiced remove` or an edit need no restart.

A watchdog observer on the configuration folder notices the file being
written or replaced (``save_config`` replaces it atomically); after a short
quiet time the file is read again and, when its content changed, handed to
``on_reload``. A file that cannot be read or is invalid is logged and
ignored: the daemon keeps the configuration it has.

Why watch the file rather than have the CLI tell the daemon: the file is the
one source of truth, so every way of changing it (the CLI, an editor, a sync
tool) is followed alike, and the CLI needs neither a running daemon nor its
token to change a setting.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from voiced.config import Config, config_to_dict, load_config
from voiced.corpus.debounce import Debouncer
from voiced.errors import VoicedError
from voiced.paths import Paths

log = logging.getLogger("voiced.daemon")


class ConfigWatch(FileSystemEventHandler):
    """Calls ``on_reload(config)`` on a thread of its own each time the config file's content changes."""

    def __init__(
        self, paths: Paths, current: Config, on_reload: Callable[[Config], None], *, quiet_seconds: float = 0.2
    ) -> None:
        super().__init__()
        self.paths = paths
        self.on_reload = on_reload
        self.reloads = 0
        self.error: str | None = None
        self._target = os.path.abspath(paths.config_file)
        self._last = config_to_dict(current)
        self._pending: Debouncer[str] = Debouncer(quiet_seconds)
        self._observer = Observer()
        self._thread = threading.Thread(target=self._work, name="voiced-config-watch", daemon=True)

    def start(self) -> None:
        self._observer.schedule(self, os.path.dirname(self._target), recursive=False)
        self._observer.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._pending.close()
        self._observer.stop()
        self._observer.join(timeout)
        self._thread.join(timeout)

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Runs on the observer thread: only note that the file may have changed."""
        paths = (os.fsdecode(event.src_path), os.fsdecode(event.dest_path) if event.dest_path else "")
        if self._target in paths and event.event_type not in ("opened", "closed_no_write"):
            self._pending.push("config")

    def _work(self) -> None:
        while self._pending.take() is not None:
            self.reload()

    def reload(self) -> bool:
        """Read the file now; True when its content changed and ``on_reload`` took it."""
        try:
            config = load_config(self.paths)
        except (VoicedError, OSError) as exc:
            self.error = str(exc)
            log.error("the configuration changed but cannot be used, keeping the current one: %s", exc)
            return False
        self.error = None
        content = config_to_dict(config)
        if content == self._last:
            return False
        self._last = content
        try:
            self.on_reload(config)
        except Exception:  # noqa: BLE001 - a failed reload must not stop the watch
            log.exception("applying the changed configuration failed")
            return False
        self.reloads += 1
        log.info("configuration reloaded: voices %s", ", ".join(config.voices) or "none")
        return True
