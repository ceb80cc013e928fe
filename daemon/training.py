"""One training run at a time, in a low-priority child, with its progress kept for the API and `voiced status`.

The daemon never trains in its own process: :func:`run_training_job_in_child`
runs the job, and this module only starts it in a thread, records the latest
progress in ``state_dir/training.json`` (0600, so it survives a restart), asks
the child to stop on cancel, and hot-swaps a promoted adapter into the engine.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths

log = logging.getLogger("voiced.daemon.training")

RUNNING = "running"
FINISHED_STATES = ("succeeded", "failed", "cancelled", "killed")


class TrainingBusy(VoicedError):
    """A training run is already going; the daemon trains one voice at a time."""


def record_path(paths: Paths) -> Path:
    return paths.state_dir / "training.json"


def read_training_record(paths: Paths | None = None) -> dict[str, Any] | None:
    """The last training record as written (``None`` when there has been none or it is unreadable)."""
    try:
        data = json.loads(record_path(paths or get_paths()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_record(paths: Paths, record: dict[str, Any]) -> None:
    from voiced.registry import write_json_atomic

    paths.ensure_private(paths.state_dir)
    write_json_atomic(record_path(paths), record)


def _outcome(status: str, stopped: str) -> tuple[str, str | None]:
    """(state, outcome) of a finished job: promoted/rejected only when training ran to a result."""
    if status == "active":
        return "succeeded", "promoted"
    if status == "rejected":
        return ("cancelled", "rejected") if stopped == "cancelled" else ("succeeded", "rejected")
    return "failed", None


class TrainingJobs:
    """The daemon's training runner: start, progress, cancel; at most one child at a time."""

    def __init__(
        self,
        paths: Paths,
        *,
        on_promoted: Callable[[str, Path], None] | None = None,
        runner: Callable[..., Any] | None = None,
    ) -> None:
        self.paths = paths
        self.on_promoted = on_promoted
        self._runner = runner
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._child: Any = None
        self._cancel = threading.Event()
        self._record = read_training_record(paths) or {}
        if self._record.get("state") == RUNNING:  # the daemon died while a child trained; the child died with it
            self._record.update(
                state="killed",
                reason="the daemon stopped while this training ran, and the "
                "training stopped with it; its version is marked failed",
                finished=time.time(),
            )
            self._save()
            self._fail_abandoned(self._record.get("voice"))

    # --- the API's three calls ---------------------------------------------------------------
    def start(self, voice: str, overrides: dict[str, Any] | None = None, *, trigger: str = "api") -> dict[str, Any]:
        with self._lock:
            if self.running:
                raise TrainingBusy(
                    f"Training of voice {self._record.get('voice')!r} is running; "
                    "wait for it or cancel it (POST /v1/train/cancel)."
                )
            self._refuse_if_trained_elsewhere(voice)
            self._cancel.clear()
            self._child = None
            self._record = {
                "voice": voice,
                "state": RUNNING,
                "trigger": trigger,
                "overrides": overrides or {},
                "started": time.time(),
                "finished": None,
                "stage": "starting",
                "step": 0,
                "total_steps": None,
                "loss": None,
                "tokens_per_second": None,
                "eta": None,
                "version": None,
                "outcome": None,
                "reason": "",
            }
            self._save()
            self._thread = threading.Thread(
                target=self._run, args=(voice, overrides or {}), name="voiced-training", daemon=True
            )
            self._thread.start()
            return dict(self._record)

    def progress(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._record) if self._record else {"state": "idle"}

    def cancel(self) -> dict[str, Any]:
        with self._lock:
            if not self.running:
                return {**(dict(self._record) or {"state": "idle"}), "cancelled": False}
            self._cancel.set()
            if self._child is not None and self._child.poll() is None:
                self._child.send_signal(signal.SIGTERM)  # the child stops training cleanly
            self._record["stage"] = "cancelling"
            return {**self._record, "cancelled": True}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends (tests, shutdown); True when none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel a running child and wait for it, so the daemon never leaves an orphan."""
        if self.running:
            self.cancel()
            self.wait(timeout)
            if self.running and self._child is not None and self._child.poll() is None:
                self._child.kill()
                self.wait(timeout)

    def _refuse_if_trained_elsewhere(self, voice: str) -> None:
        """A run this daemon did not start (`voiced train`, or a run left by another daemon) holds the voice."""
        from voiced.trainer.voice_lock import TrainingRunning, running_training

        pid = running_training(voice, self.paths)
        if pid is not None:
            raise TrainingBusy(str(TrainingRunning(voice, pid)))

    def _fail_abandoned(self, voice: Any) -> None:
        """The version a dead daemon's child was writing is failed now, not at the registry's next recovery."""
        from voiced.trainer.voice_lock import TrainingRunning, training_lock

        if not isinstance(voice, str):
            return
        try:
            with training_lock(voice, self.paths):  # taking it marks the voice's unfinished versions failed
                pass
        except TrainingRunning:  # a live run (a `voiced train`) holds it: its version is not abandoned
            pass
        except Exception as exc:  # noqa: BLE001 - the registry's own recovery will still do it
            log.warning("cannot mark the interrupted training of %s failed: %s", voice, exc)

    # --- the worker thread -------------------------------------------------------------------
    def _save(self) -> None:
        try:
            _write_record(self.paths, self._record)
        except OSError as exc:  # a full disk must not stop training; status just lags
            log.warning("cannot write the training record: %s", exc)

    def _on_progress(self, event: dict[str, Any]) -> None:
        with self._lock:
            kind = event.get("event")
            if kind == "version":
                self._record["version"] = event.get("version")
            elif kind == "start":
                self._record.update(stage="training", total_steps=event.get("total_steps"))
            elif kind == "step":
                self._record.update(
                    stage="training",
                    step=event.get("step"),
                    total_steps=event.get("total_steps"),
                    loss=event.get("loss"),
                    tokens_per_second=event.get("tokens_per_second"),
                    eta=event.get("eta_seconds"),
                    train_stage=event.get("stage"),
                )
            elif kind == "eval":
                self._record["valid_loss"] = event.get("valid_loss")
            elif kind == "end":
                self._record["stage"] = "evaluating"
            elif kind == "phase" or "stage" in event:
                self._record["stage"] = event.get("stage") or event.get("phase") or self._record["stage"]
            self._save()

    def _run(self, voice: str, overrides: dict[str, Any]) -> None:
        from voiced.daemon.training_job import JobError, run_training_job_in_child

        runner = self._runner or run_training_job_in_child
        finished: dict[str, Any]
        try:
            result = runner(
                voice,
                overrides=overrides,
                progress=self._on_progress,
                should_stop=self._cancel.is_set,
                paths=self.paths,
                on_start=self._started,
            )
        except JobError as exc:
            state = "cancelled" if self._cancel.is_set() else "failed"
            finished = {"state": state, "reason": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the daemon
            log.exception("training of %s failed", voice)
            finished = {"state": "failed", "reason": f"training could not run: {exc}"}
        else:
            state, outcome = _outcome(result.status, result.stopped)
            if result.status == "failed" and "killed" in result.reason:
                state = "cancelled" if self._cancel.is_set() else "killed"
            finished = {
                "state": state,
                "outcome": outcome,
                "reason": result.reason,
                "version": result.version,
                "scores": result.scores,
                "stopped": result.stopped,
            }
            if result.promoted:
                self._hot_swap(voice, result.version)
        with self._lock:
            self._record.update(finished, finished=time.time(), stage="done")
            self._child = None
            self._save()
        log.info("training of %s ended: %s %s", voice, self._record["state"], self._record.get("reason", ""))

    def _started(self, child: Any) -> None:
        with self._lock:
            self._child = child
            self._record["pid"] = child.pid
            if self._cancel.is_set():
                child.send_signal(signal.SIGTERM)

    def _hot_swap(self, voice: str, version: int | None) -> None:
        if self.on_promoted is None or version is None:
            return
        from voiced.registry import Registry

        gguf = Registry.open(voice, self.paths).get(version).gguf_path
        try:
            self.on_promoted(voice, gguf)
        except Exception as exc:  # noqa: BLE001 - the registry is right; the engine keeps the old adapter
            log.error("adapter %s v%s promoted but not loaded: %s", voice, version, exc)
            with self._lock:
                self._record["swap_error"] = str(exc)
