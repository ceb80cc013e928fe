"""`voiced train`: one training job for a voice, with a progress bar or JSON lines.

The job (corpus -> dataset -> LoRA training -> gate -> registry) runs in a
low-priority child process; this command only shows its progress.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from voiced.cli.errors import UserFacingError
from voiced.cli.options import given_options, setting_type

if TYPE_CHECKING:
    from voiced.daemon.training_job import JobResult, Progress
from voiced.config import TrainingSettings

# CLI option -> field of TrainingSettings it overrides (only when given).
TRAINING_OVERRIDES = {"max_steps": "max_steps", "max_minutes": "max_minutes"}


def _progress(as_json: bool) -> Progress:
    from voiced.trainer.callbacks import JsonLinesProgress, TqdmProgress

    return JsonLinesProgress(sys.stdout) if as_json else TqdmProgress(sys.stderr)


def _summary(result: JobResult) -> str:
    if result.status == "failed":
        return f"Training failed: {result.reason}"
    where = f"version {result.version}" if result.version is not None else "no version"
    verdict = "is now active" if result.promoted else "was kept but not activated"
    return f"Voice {result.voice!r}: {where} {verdict} ({result.reason}); training {result.stopped or 'ended'}."


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
