"""The nightly scheduler driven by an injected clock over a real corpus: due, not due, too few words,
a missed run at start, one training at a time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from voiced.config import Config, ConfigError, VoiceConfig
from voiced.corpus import CorpusStore
from voiced.corpus.scanner import scan
from voiced.daemon.scheduler import Scheduler, next_run_after, read_schedule_state
from voiced.paths import get_paths

PARAGRAPH = (
    "The morning was grey and the street below was quiet, so she wrote slowly and without hurry, "
    "weighing each sentence before she let it stand on the page. "
)


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute).timestamp()


class Clock:
    def __init__(self, start: float) -> None:
        self.time = start
        self.waits: list[float] = []

    def now(self) -> float:
        return self.time

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return True  # one pass, then stop


class Jobs:
    """Stands in for the job runner's two calls; training itself is tested in test_daemon_training."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict]] = []
        self.busy = False

    def start(self, voice: str, overrides: dict) -> None:
        self.started.append((voice, overrides))
        self.busy = True


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Two voices: 'rich' with about 2,400 words of prose, 'thin' with about 60."""
    config = Config()
    for name, paragraphs in (("rich", 80), ("thin", 2)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "notes.md").write_text("\n\n".join(f"{PARAGRAPH}Entry {i}." for i in range(paragraphs)))
        config.voices[name] = VoiceConfig(name=name, folders=[str(folder)])
    config.scheduler.min_new_words = 1000
    paths = get_paths()
    paths.ensure_private(paths.state_dir)
    with CorpusStore.open(paths) as store:
        scan(store, config)
    return config


def scheduler(config: Config, clock: Clock, jobs: Jobs) -> Scheduler:
    return Scheduler(
        config, get_paths(), start_training=jobs.start, is_busy=lambda: jobs.busy, now=clock.now, wait=clock.wait
    )


def test_next_run_is_the_next_nightly_time() -> None:
    assert next_run_after(at(5, 1), "03:00") == at(5, 3)
    assert next_run_after(at(5, 3), "03:00") == at(6, 3)
    assert next_run_after(at(5, 23, 59), "03:30") == at(6, 3, 30)
    with pytest.raises(ConfigError, match="HH:MM"):
        next_run_after(at(5, 1), "3 am")


def test_not_due_before_the_nightly_time(config: Config) -> None:
    clock, jobs = Clock(at(5, 12)), Jobs()
    sched = scheduler(config, clock, jobs)
    clock.time = at(6, 2, 59)
    assert sched.tick() == []
    assert jobs.started == []
    assert sched.next_run() == at(6, 3)


def test_due_trains_only_voices_with_enough_new_words_one_at_a_time(config: Config) -> None:
    clock, jobs = Clock(at(5, 12)), Jobs()
    sched = scheduler(config, clock, jobs)
    clock.time = at(6, 3, 1)
    assert sched.tick() == ["rich"]
    assert [voice for voice, _ in jobs.started] == ["rich"]
    # the next night's pass waits for a run in progress rather than starting a second one
    clock.time = at(7, 3, 1)
    assert sched.tick() == []
    assert read_schedule_state(get_paths())["pending"] == ["rich"]
    jobs.busy = False
    assert sched.tick() == ["rich"]
    assert len(jobs.started) == 2


def test_too_few_new_words_trains_nothing(config: Config) -> None:
    config.scheduler.min_new_words = 50_000
    clock, jobs = Clock(at(5, 12)), Jobs()
    sched = scheduler(config, clock, jobs)
    clock.time = at(6, 4)
    assert sched.tick() == []
    assert jobs.started == []
    assert sched.next_run() == at(7, 3)  # the night counts as done


def test_a_run_missed_while_asleep_happens_at_the_next_start(config: Config) -> None:
    clock, jobs = Clock(at(5, 22)), Jobs()
    scheduler(config, clock, jobs)  # the daemon ran on the evening of the 5th, then the machine slept
    assert read_schedule_state(get_paths())["last_run"] == at(5, 22)
    clock.time = at(6, 9)  # woke up after 03:00: a new daemon reads the persisted last run
    restarted = scheduler(config, clock, jobs)
    restarted.run()
    assert [voice for voice, _ in jobs.started] == ["rich"]
    assert clock.waits and clock.waits[0] > 0


def test_scheduled_runs_carry_the_time_budget(config: Config) -> None:
    config.scheduler.max_minutes = 7.5
    clock, jobs = Clock(at(5, 12)), Jobs()
    sched = scheduler(config, clock, jobs)
    clock.time = at(6, 3)
    sched.tick()
    assert jobs.started == [("rich", {"max_minutes": 7.5})]


def test_a_bad_time_of_day_fails_at_start(config: Config) -> None:
    config.scheduler.nightly_at = "25:00"
    with pytest.raises(ConfigError, match="nightly_at"):
        scheduler(config, Clock(at(5, 12)), Jobs())


def test_changed_settings_apply_while_running_and_a_bad_time_is_refused(config: Config) -> None:
    from dataclasses import replace

    clock, jobs = Clock(at(5, 12)), Jobs()
    sched = scheduler(config, clock, jobs)
    assert sched.next_run() == at(6, 3)
    sched.reconfigure(replace(config.scheduler, nightly_at="13:30"))
    assert sched.next_run() == at(5, 13, 30) and config.scheduler.nightly_at == "13:30"
    with pytest.raises(ConfigError, match="nightly_at"):
        sched.reconfigure(replace(config.scheduler, nightly_at="half past one"))
    assert sched.settings.nightly_at == "13:30"  # the good settings stay

    # A new time that has already passed since the last run is the next day's, not a second run today.
    clock.time = at(5, 14)
    sched.reconfigure(replace(config.scheduler, nightly_at="10:00"))
    assert sched.next_run() == at(6, 10) and sched.tick() == []

    clock.time = at(6, 11)  # due
    sched.reconfigure(replace(config.scheduler, enabled=False))
    assert sched.tick() == [] and jobs.started == [] and sched.seconds_to_next_tick() == 3600.0
    sched.reconfigure(replace(config.scheduler, enabled=True))  # back on: counted from now
    assert sched.tick() == [] and sched.next_run() == at(7, 10)
    clock.time = at(7, 10)
    assert sched.tick() == ["rich"]


def test_a_change_wakes_the_sleeping_scheduler_and_stop_ends_it(config: Config) -> None:
    """With its own sleep (no injected wait), a scheduler whose next run is hours away wakes at once
    when its settings change, to plan with them, and stop() ends its thread at once."""
    import threading
    import time
    from dataclasses import replace

    clock, jobs = Clock(at(5, 12)), Jobs()
    sched = Scheduler(config, get_paths(), start_training=jobs.start, is_busy=lambda: jobs.busy, now=clock.now)
    clock.time = at(5, 13)
    ticks: list[float] = []
    tick = sched.tick
    sched.tick = lambda: ticks.append(time.monotonic()) or tick()
    thread = threading.Thread(target=sched.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ticks and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ticks and sched.seconds_to_next_tick() == 3600.0  # the next run is at 3:00: it sleeps an hour
    sched.reconfigure(replace(config.scheduler, nightly_at="13:00"))
    while len(ticks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ticks) == 2 and sched.next_run() == at(6, 13)  # woken, it planned with the new time
    sched.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and jobs.started == []
