"""Training through a real daemon: start, 409 while running, progress to the end, cancel, kill -9 of the child.

The daemon is the real `python -m voiced daemon run` with the embedded model;
the voice is the small Persuasion corpus of the job tests, trained a few steps.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from job_support import fake_adapter, make_voice
from process_support import gone, run_voiced, wait_for

from voiced.daemon.client import DaemonClient, DaemonError
from voiced.daemon.process import start_daemon, stop_daemon
from voiced.daemon.training import TrainingJobs, read_training_record, record_path
from voiced.paths import get_paths
from voiced.registry import Registry
from voiced.trainer.voice_lock import running_training

FINISHED = ("succeeded", "failed", "cancelled", "killed")


@pytest.fixture
def client(tmp_path: Path):
    config = make_voice(tmp_path)
    config.daemon.start_timeout_seconds = 120
    config.scheduler.enabled = False
    # The voice gate judges rewrites as served (guard retries included); 8 drafts keep a failing gate
    # to minutes on a loaded machine while still deciding on real rewrites.
    config.evaluation.gate_passages = 8
    from voiced.config import save_config

    save_config(config)
    start_daemon(timeout=120)
    with DaemonClient.connect(start_if_needed=False) as connected:
        yield connected
    stop_daemon(timeout=30)


def finished(client: DaemonClient, timeout: float = 600) -> dict:
    return wait_for(
        lambda: (lambda p: p if p["state"] in FINISHED else None)(client.train_progress()),
        "the training to finish",
        timeout=timeout,
    )


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


def test_a_new_daemon_fails_the_version_its_dead_predecessor_was_training() -> None:
    """At once, even while the dead child's pid still answers (a zombie nobody has reaped)."""
    paths = get_paths()
    left = Registry.open("austen").begin_version({})  # "training", its pid alive: this process
    paths.ensure_private(paths.state_dir)
    record_path(paths).write_text(json.dumps({"voice": "austen", "state": "running", "version": left.number}))
    TrainingJobs(paths)
    version = Registry.open("austen").get(left.number)
    assert version.status == "failed" and "interrupted" in version.reason


@pytest.mark.slow
@pytest.mark.timeout(1500)  # four steps, then the default voice gate's rewrites of the held-out drafts
def test_train_through_the_daemon_reports_progress_and_swaps_a_promoted_adapter(client: DaemonClient) -> None:
    assert client.train_progress()["state"] == "idle"
    started = client.train("austen", max_steps=4)
    assert started["state"] == "running" and started["overrides"] == {"max_steps": 4}
    with pytest.raises(DaemonError) as busy:
        client.train("austen")
    assert busy.value.status == 409 and "is running" in str(busy.value)
    seen_step = wait_for(
        lambda: client.train_progress()["step"] or client.train_progress()["state"] in FINISHED,
        "a training step",
        timeout=600,
    )
    assert seen_step
    done = finished(client, 900)
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
    wait_for(lambda: client.train_progress()["step"], "a training step", timeout=600)
    assert client.cancel_training()["cancelled"] is True
    done = finished(client, 120)
    assert done["state"] == "cancelled" and "cancelled" in done["reason"]
    registry = Registry.open("austen")
    assert registry.active_version() is None and registry.get(done["version"]).status == "failed"


@pytest.mark.slow
def test_kill_9_of_the_child_is_reported_and_the_daemon_stays_up(client: DaemonClient, tmp_path: Path) -> None:
    registry = Registry.open("austen")
    kept = registry.finish_version(
        registry.begin_version({}), fake_adapter(tmp_path / "kept"), None, {"status": "candidate"}
    )
    registry.activate(kept.number)
    client.train("austen", max_steps=200)
    progress = wait_for(
        lambda: (lambda p: p if p["step"] and p.get("pid") else None)(client.train_progress()),
        "a training step",
        timeout=600,
    )
    os.kill(progress["pid"], signal.SIGKILL)
    done = finished(client, 60)
    assert done["state"] == "killed" and "SIGKILL" in done["reason"]
    assert client.status()["pid"] > 0  # the daemon answers
    reopened = Registry.open("austen")
    assert reopened.active_version() == kept.number
    assert reopened.get(done["version"]).status == "failed"
    assert client.train_progress()["state"] == "killed"


def _training_pid(client: DaemonClient) -> int:
    """The child's pid, once the child holds the voice's training lock (it has armed its lifeline)."""
    return wait_for(
        lambda: (lambda p: p.get("pid") if p.get("pid") and running_training("austen", get_paths()) else None)(
            client.train_progress()
        ),
        "the training child to start",
        timeout=300,
    )


@pytest.mark.slow
def test_kill_9_of_the_daemon_takes_its_training_child_and_the_next_daemon_trains(tmp_path: Path) -> None:
    config = make_voice(tmp_path)
    config.daemon.start_timeout_seconds = 120
    config.scheduler.enabled = False
    # The voice gate judges rewrites as served (guard retries included); 8 drafts keep a failing gate
    # to minutes on a loaded machine while still deciding on real rewrites.
    config.evaluation.gate_passages = 8
    from voiced.config import save_config

    save_config(config)
    record, _ = start_daemon(timeout=120)
    with DaemonClient.connect(start_if_needed=False) as client:
        client.train("austen", max_steps=500)
        child = _training_pid(client)
    # Frozen between two progress lines: an orphan used to live on until its next line hit the dead pipe.
    os.kill(child, signal.SIGSTOP)
    try:
        os.kill(record.pid, signal.SIGKILL)
        wait_for(lambda: gone(child), "the training child to die with its daemon", timeout=5)
    finally:
        if not gone(child):
            os.kill(child, signal.SIGKILL)
    wait_for(lambda: running_training("austen", get_paths()) is None, "the voice's training lock to be free", timeout=5)
    start_daemon(timeout=120)
    try:
        with DaemonClient.connect(start_if_needed=False) as client:
            killed = client.train_progress()
            assert killed["state"] == "killed" and "stopped with it" in killed["reason"]
            first = Registry.open("austen").versions()
            assert all(v.status == "failed" for v in first)  # the dead run's version, if it had begun one
            assert client.train("austen", max_steps=500)["state"] == "running"
            # Past the lock, the dataset and the model load: the new run has begun its version.
            training = wait_for(
                lambda: (lambda p: p if p["version"] or p["state"] in FINISHED else None)(client.train_progress()),
                "the new run's version",
                timeout=600,
            )
            assert training["state"] == "running" and training["version"] == len(first) + 1, training
            os.kill(training["pid"], signal.SIGKILL)  # quicker than a cancel, which waits for a step
            assert finished(client, 60)["state"] == "killed"
    finally:
        stop_daemon(timeout=30)


@pytest.mark.slow
def test_one_voice_never_trains_twice_at_once_daemon_or_cli(client: DaemonClient) -> None:
    paths = get_paths()
    client.train("austen", max_steps=500)
    child = _training_pid(client)
    assert running_training("austen", paths) == child
    refused = run_voiced("train", "--max-steps", "2", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"Training for voice 'austen' is already running (pid {child})" in refused.stderr
    os.kill(child, signal.SIGKILL)
    killed = finished(client, 60)
    assert killed["state"] == "killed"
    # The refused run began no version: only the killed run's, if it got that far.
    assert [v.number for v in Registry.open("austen").versions()] == [n for n in [killed["version"]] if n]

    cli = subprocess.Popen(
        [sys.executable, "-m", "voiced", "train", "--max-steps", "500"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    try:
        cli_child = wait_for(lambda: running_training("austen", paths), "the CLI's run to take the voice", timeout=300)
        with pytest.raises(DaemonError) as busy:
            client.train("austen", max_steps=2)
        assert busy.value.status == 409 and f"already running (pid {cli_child})" in str(busy.value)
        cli.send_signal(signal.SIGKILL)  # the CLI dies: its child goes with it
        cli.wait()
        wait_for(lambda: gone(cli_child), "the CLI's training child to die with it", timeout=5)
    finally:
        cli.kill()
        cli.wait()
    assert wait_for(lambda: running_training("austen", paths) is None, "the lock to be free", timeout=5)
