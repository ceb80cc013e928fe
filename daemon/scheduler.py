"""Nightly retraining: at the configured local time, train each voice with enough new prose, one at a time.

The clock is injected (``now`` returns epoch seconds, ``wait(seconds)``
returns True when the scheduler must stop), so tests drive it without
waiting. The last run time and the voices still queued are kept in
``state_dir/scheduler.json`` (0600): a run missed while the machine slept or
the daemon was down happens at the next start, and a queue survives a restart.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voiced.config import TIME_OF_DAY, Config, ConfigError, SchedulerSettings
from voiced.paths import Paths

log = logging.getLogger("voiced.daemon.scheduler")

POLL_SECONDS = 60.0  # how often a queued voice checks whether the previous training ended
_TIME = re.compile(TIME_OF_DAY)  # the config file is checked against it too


def parse_time_of_day(text: str) -> tuple[int, int]:
    match = _TIME.match(text.strip())
    if not match:
        raise ConfigError(
            f"scheduler.nightly_at is {text!r}, which is not a time of day.",
            fix='Write it as HH:MM in 24-hour local time, for example "03:00".',
        )
    return int(match.group(1)), int(match.group(2))


def next_run_after(moment: float, nightly_at: str) -> float:
    """The first nightly time (local) strictly after ``moment``."""
    hour, minute = parse_time_of_day(nightly_at)
    local = datetime.fromtimestamp(moment)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate.timestamp() <= moment:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate.timestamp()


def state_path(paths: Paths) -> Path:
    return paths.state_dir / "scheduler.json"


def read_schedule_state(paths: Paths) -> dict[str, Any]:
    """``{"last_run": epoch | None, "pending": [voice, ...], "started": {voice: epoch}}`` (empty when absent)."""
    try:
        data = json.loads(state_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def active_adapter_time(voice: str, paths: Paths) -> float:
    """When the active adapter was created (epoch), or 0 when the voice runs on the base model."""
    from voiced.registry import Registry

    active = Registry.open(voice, paths, recover=False).active()
    if active is None:
        return 0.0
    created = active.manifest.created_at
    return created.timestamp() if created is not None else 0.0


def new_words_since_active(voice: str, paths: Paths) -> int:
    from voiced.corpus.store import CorpusStore

    if not paths.corpus_db.exists():
        return 0
    with CorpusStore.open(paths) as store:
        return store.words_changed_since(voice, active_adapter_time(voice, paths))


class Scheduler:
    """Decides when to train; ``start_training(voice, overrides)`` and ``is_busy()`` reach the job runner."""

    def __init__(
        self,
        config: Config,
        paths: Paths,
        *,
        start_training: Callable[[str, dict[str, Any]], Any],
        is_busy: Callable[[], bool],
        now: Callable[[], float] = time.time,
        wait: Callable[[float], bool] | None = None,
        new_words: Callable[[str, Paths], int] = new_words_since_active,
    ) -> None:
        self.config = config
        parse_time_of_day(self.settings.nightly_at)  # a bad value fails at start, not at 3 am
        self.paths = paths
        self.start_training = start_training
        self.is_busy = is_busy
        self.now = now
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and reconfigure(): the sleep ends early
        self.wait = wait or self._sleep
        self.new_words = new_words
        self.state = read_schedule_state(paths)
        if self.state.get("last_run") is None:  # the first start ever: the first run is the next night
            self.state = {"last_run": now(), "pending": []}
            self._save()

    @property
    def settings(self) -> SchedulerSettings:
        """The ``[scheduler]`` settings as they are now (see :meth:`reconfigure`)."""
        return self.config.scheduler

    def reconfigure(self, settings: SchedulerSettings) -> None:
        """Adopt changed settings while running, its sleep cut short to plan with them. A new nightly
        time, or the schedule switched back on, is planned from now: the next run is the next time
        that comes, not one that passed since the last run. An invalid time of day raises
        ConfigError and the settings stay as they were."""
        parse_time_of_day(settings.nightly_at)
        old = self.settings
        self.config.scheduler = settings
        if settings.nightly_at != old.nightly_at or (settings.enabled and not old.enabled):
            self.plan_from_now()
        self._wake.set()

    def plan_from_now(self) -> None:
        """Count from now, as if the schedule had just run: nothing that fell due before now runs."""
        self.state["last_run"] = max(float(self.state["last_run"]), self.now())
        self._save()

    def next_run(self) -> float:
        return next_run_after(float(self.state["last_run"]), self.settings.nightly_at)

    def voices_due(self) -> list[str]:
        """Voices with at least ``min_new_words`` new words since their active adapter."""
        due = []
        for voice in self.config.voices:
            try:
                words = self.new_words(voice, self.paths)
            except Exception as exc:  # noqa: BLE001 - one voice's broken registry must not stop the others
                log.error("voice %s: cannot count new words: %s", voice, exc)
                continue
            if words >= self.settings.min_new_words:
                due.append(voice)
            else:
                log.info(
                    "voice %s: %d new words, fewer than %d; not retrained", voice, words, self.settings.min_new_words
                )
        return due

    def tick(self) -> list[str]:
        """One pass: queue the voices when the nightly time has come, start the next if none trains."""
        started: list[str] = []
        if not self.settings.enabled:  # switched off while running: nothing starts, the queue waits
            return started
        if self.now() >= self.next_run():
            self.state["last_run"] = self.now()
            queued = [v for v in self.voices_due() if v not in self.state.get("pending", [])]
            self.state["pending"] = list(self.state.get("pending", [])) + queued
            self._save()
        pending = self.state.get("pending", [])
        if pending and not self.is_busy():
            voice = pending.pop(0)
            self._save()
            try:
                self.start_training(voice, self._overrides())
                started.append(voice)
                log.info("scheduled training of %s started", voice)
            except Exception as exc:  # noqa: BLE001 - busy (a manual run began) or the voice vanished
                log.warning("scheduled training of %s not started: %s", voice, exc)
                if voice in self.config.voices:
                    pending.insert(0, voice)
                    self._save()
        return started

    def seconds_to_next_tick(self) -> float:
        if not self.settings.enabled:
            return 3600.0  # nothing to do until reconfigure() wakes it
        if self.state.get("pending"):
            return POLL_SECONDS
        return max(1.0, min(self.next_run() - self.now(), 3600.0))

    def run(self) -> None:
        """Tick until stopped; the thread body."""
        while True:
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the scheduler outlives a bad night
                log.exception("scheduler pass failed")
            if self.wait(self.seconds_to_next_tick()):
                return

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "nightly_at": self.settings.nightly_at,
            "min_new_words": self.settings.min_new_words,
            "last_run": self.state.get("last_run"),
            "next_run": self.next_run(),
            "pending": list(self.state.get("pending", [])),
        }

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until woken; True once stopped."""
        self._wake.wait(seconds)
        self._wake.clear()
        return self._stop.is_set()

    def _overrides(self) -> dict[str, Any]:
        return {"max_minutes": self.settings.max_minutes} if self.settings.max_minutes > 0 else {}

    def _save(self) -> None:
        from voiced.registry import write_json_atomic

        self.paths.ensure_private(self.paths.state_dir)
        write_json_atomic(state_path(self.paths), self.state)


def start_scheduler(config: Config, paths: Paths, jobs: Any, *, from_now: bool = False) -> Scheduler | None:
    """Run the scheduler in a daemon thread beside the API (None when disabled or training is unavailable).
    ``from_now``: a schedule switched on while the daemon runs counts from now (see ``plan_from_now``)."""
    if not config.scheduler.enabled or jobs is None:
        return None
    scheduler = Scheduler(
        config,
        paths,
        is_busy=lambda: jobs.running,
        start_training=lambda voice, overrides: jobs.start(voice, overrides, trigger="schedule"),
    )
    if from_now:
        scheduler.plan_from_now()
    threading.Thread(target=scheduler.run, name="voiced-scheduler", daemon=True).start()
    return scheduler
