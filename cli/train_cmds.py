"""`voiced train`: one training job for a voice, with a progress bar or JSON lines.

The job (corpus -> dataset -> LoRA training -> gate -> registry) runs in a
low-priority child process; this command only shows its progress.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

import click

from voiced.cli.errors import UserFacingError
from voiced.cli.options import given_options, setting_type

if TYPE_CHECKING:
    from voiced.daemon.training_job import JobResult, Progress
from voiced.config import TrainingSettings

# CLI option -> field of TrainingSettings it overrides (only when given).
TRAINING_OVERRIDES = {"max_steps": "max_steps", "max_minutes": "max_minutes"}


# The job's phases (daemon/training_job.py), as the terminal names them.
PHASE_LABELS = {
    "dataset": "Building examples from your writing",
    "load": "Loading the base model",
    "tokenize": "Tokenizing the examples",
    "train": "Training",
    "preference": "Learning from your feedback (preference stage)",
    "export": "Writing the adapter files",
    "gate": "Scoring your held-out writing (test NLL)",
    "gate-voice": "Rewriting held-out drafts with the base and the new voice (the gate)",
    "record": "Recording the version",
}


class PhaseProgress:
    """The terminal's progress: each phase of the job with its duration, the training bar in between,
    and a summary of the phases at the end."""

    def __init__(self, stream: TextIO) -> None:
        from voiced.trainer.callbacks import TqdmProgress

        self.stream = stream
        self.bar = TqdmProgress(stream)

    def _say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: dict) -> None:
        kind, phase = event.get("event"), event.get("phase", "")
        label = PHASE_LABELS.get(phase, phase)
        if kind == "phase":
            self._say(f"{label}...")
        elif kind == "phase_done":
            self._say(f"  {label}: {event['seconds']:.1f} s")
        elif kind == "base_nll" and event.get("source") == "cache":
            self._say("  (the base model's score was reused: your held-out writing and the base are unchanged)")
        elif kind == "warning":
            self._say(f"Note: {event.get('message', '')}")
        elif kind == "phases":
            parts = ", ".join(f"{p['phase']} {p['seconds']:.1f} s" for p in event["phases"])
            self._say(f"Phases: {parts}; total {event['total']:.1f} s.")
        else:
            self.bar(event)


def _progress(as_json: bool) -> Progress:
    from voiced.trainer.callbacks import JsonLinesProgress

    return JsonLinesProgress(sys.stdout) if as_json else PhaseProgress(sys.stderr)


# How training ended (TrainResult.stopped), in words.
STOPPED = {
    "completed": "training ran all its epochs",
    "max_steps": "training stopped at the step limit (--max-steps)",
    "max_minutes": "training stopped at the time limit (--max-minutes)",
    "early_stopping": "training stopped early: the validation loss no longer improved",
    "cancelled": "training was cancelled",
}


def _summary(result: JobResult) -> str:
    if result.status == "failed":
        return f"Training failed: {result.reason}"
    where = f"version {result.version}" if result.version is not None else "no version"
    how = STOPPED.get(result.stopped, f"training {result.stopped or 'ended'}")
    if result.promoted:
        return f"Voice {result.voice!r}: {where} is now active. {result.reason} ({how}.)"
    return (
        f"Voice {result.voice!r}: {where} was not activated; rewrites stay as they were. {result.reason} "
        f"({how}; the version is kept: `voiced adapters list`.)"
    )


@click.command("train")
@click.option("--voice", help="The voice to train (default: the first configured voice).")
@click.option(
    "--max-steps",
    type=setting_type(TrainingSettings, "max_steps"),
    help="Stop after this many optimiser steps (a smoke run).",
)
@click.option(
    "--max-minutes", type=setting_type(TrainingSettings, "max_minutes"), help="Stop training after this many minutes."
)
@click.option("--progress-json", is_flag=True, help="Print progress as JSON Lines on stdout (one object per line).")
@click.pass_context
def train_command(
    ctx: click.Context, voice: str | None, max_steps: int | None, max_minutes: float | None, progress_json: bool
) -> None:
    """Train a new adapter for a voice and activate it if it beats the active one."""
    from voiced.daemon.training_job import JobError, run_training_job_in_child

    overrides = given_options(ctx, TRAINING_OVERRIDES)
    try:
        result = run_training_job_in_child(voice, overrides=overrides, progress=_progress(progress_json))
    except JobError as exc:
        raise UserFacingError(str(exc)) from exc
    if progress_json:
        click.echo(json.dumps({"event": "result", **result.to_dict()}, default=str))
    else:
        click.echo(_summary(result))
    if result.promoted:
        from voiced.cli.registry_sync import tell_daemon

        tell_daemon(result.voice)  # a running daemon serves the new version from its next request
    if result.status == "failed":
        sys.exit(1)


def register(main: click.Group) -> None:
    main.add_command(train_command)
