"""Training through a real daemon: start, 409 while running, progress to the end, cancel, kill -9 of the child.

The daemon is the real `python -m voiced daemon run` with the embedded model;
the voice is the small Persuasion corpus of the job tests, trained a few steps.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from job_support import fake_adapter, make_voice
from test_daemon_process import wait_for
from voiced.client import DaemonClient, DaemonError
from voiced.daemon.process import start_daemon, stop_daemon
from voiced.daemon.training import TrainingJobs, read_training_record, record_path
from voiced.paths import get_paths
from voiced.trainer.registry import Registry

FINISHED = ("succeeded", "failed", "cancelled", "killed")


@pytest.fixture
def client(tmp_path: Path):
    config = make_voice(tmp_path)
    config.daemon.start_timeout_seconds = 120
    config.scheduler.enabled = False
    from voiced.config import save_config

    save_config(config)
    start_daemon(timeout=120)
    with DaemonClient.connect(start_if_needed=False) as connected:
        yield connected
    stop_daemon(timeout=30)


def finished(client: DaemonClient, timeout: float = 600) -> dict:
    return wait_for(lambda: (lambda p: p if p["state"] in FINISHED else None)(client.train_progress()),
                    timeout, "the training to finish")


def test_a_record_left_running_by_a_dead_daemon_reads_as_killed() -> None:
    paths = get_paths()
    paths.ensure_private(paths.state_dir)
    record_path(paths).write_text(json.dumps({"voice": "v", "state": "running", "step": 3}))
    jobs = TrainingJobs(paths)
    progress = jobs.progress()
    assert progress["state"] == "killed" and "daemon stopped" in progress["reason"]
    assert read_training_record(paths)["state"] == "killed"
    assert stat.S_IMODE(record_path(paths).stat().st_mode) == 0o600
    assert jobs.cancel()["cancelled"] is False


@pytest.mark.slow
def test_train_through_the_daemon_reports_progress_and_swaps_a_promoted_adapter(client: DaemonClient) -> None:
    assert client.train_progress()["state"] == "idle"
    started = client.train("austen", max_steps=4)
    assert started["state"] == "running" and started["overrides"] == {"max_steps": 4}
    with pytest.raises(DaemonError) as busy:
        client.train("austen")
    assert busy.value.status == 409 and "is running" in str(busy.value)
    seen_step = wait_for(lambda: client.train_progress()["step"] or client.train_progress()["state"] in FINISHED,
                         600, "a training step")
    assert seen_step
    done = finished(client)
    assert done["state"] == "succeeded", done
    assert done["outcome"] in ("promoted", "rejected") and done["version"] == 1 and done["reason"]
    assert done["total_steps"] == 4 and done["loss"] is not None
    record = json.loads(record_path(get_paths()).read_text())
    assert record["state"] == "succeeded" and stat.S_IMODE(record_path(get_paths()).stat().st_mode) == 0o600
    engine = client.status()["engine"]["austen"]
    if done["outcome"] == "promoted":
        assert engine["adapter_version"] == 1 and engine["adapter"].endswith("adapter.gguf")
        assert client.adapters("austen")["active"] == 1
    else:
        assert engine["adapter"] is None and client.adapters("austen")["active"] is None


@pytest.mark.slow
def test_cancel_stops_the_child_and_leaves_no_active_adapter(client: DaemonClient) -> None:
    client.train("austen", max_steps=200)
    wait_for(lambda: client.train_progress()["step"], 600, "a training step")
    assert client.cancel_training()["cancelled"] is True
    done = finished(client, 120)
    assert done["state"] == "cancelled" and "cancelled" in done["reason"]
    registry = Registry.open("austen")
    assert registry.active_version() is None and registry.get(done["version"]).status == "failed"


@pytest.mark.slow
def test_kill_9_of_the_child_is_reported_and_the_daemon_stays_up(client: DaemonClient, tmp_path: Path) -> None:
    registry = Registry.open("austen")
    kept = registry.finish_version(registry.begin_version({}), fake_adapter(tmp_path / "kept"), None,
                                   {"status": "candidate"})
    registry.activate(kept.number)
    client.train("austen", max_steps=200)
    progress = wait_for(lambda: (lambda p: p if p["step"] and p.get("pid") else None)(client.train_progress()),
                        600, "a training step")
    os.kill(progress["pid"], signal.SIGKILL)
    done = finished(client, 60)
    assert done["state"] == "killed" and "SIGKILL" in done["reason"]
    assert client.status()["pid"] > 0  # the daemon answers
    reopened = Registry.open("austen")
    assert reopened.active_version() == kept.number
    assert reopened.get(done["version"]).status == "failed"
    assert client.train_progress()["state"] == "killed"
