"""Consumers of the trainer's progress dicts; the training loop itself displays nothing.

Events: ``start`` (total_steps, ...), ``step`` (step, total_steps, loss, lr,
tokens_per_second, eta_seconds, epoch, stage: "lm" | "rewrite"), ``eval`` (step, valid_loss, best,
improved) and ``end`` (stopped, best_step, best_valid_loss, adapter_dir, ...); the
training job adds ``phase`` (its stage), ``version`` and ``gate``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any, TextIO

Progress = Callable[[dict], None]
# A step event's "stage", as the bar names it.
STAGE_LABELS = {"lm": "warm-up on prose", "rewrite": "training", "preference": "preference stage"}


def _json_safe(value: Any) -> Any:
    """JSON has no NaN/Infinity: such losses become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonLinesProgress:
    """One JSON object per line (``voiced train --progress-json``, read by the daemon)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: dict) -> None:
        self.stream.write(json.dumps({k: _json_safe(v) for k, v in event.items()}) + "\n")
        self.stream.flush()


class TqdmProgress:
    """A terminal progress bar with loss, tokens/s and the validation loss."""

    def __init__(self, stream: TextIO | None = None, **tqdm_options: Any) -> None:
        self.stream = stream or sys.stderr
        self.options = tqdm_options
        self.bar: Any = None
        self.valid_loss: float | None = None

    def __call__(self, event: dict) -> None:
        from tqdm import tqdm

        kind = event.get("event")
        if kind == "start":
            self.bar = tqdm(total=event["total_steps"], unit="step", desc="training", file=self.stream, **self.options)
        elif kind == "step" and self.bar is not None:
            label = STAGE_LABELS.get(event.get("stage", ""), "training")
            if self.bar.desc != label:  # the language-modelling warm-up, then the rewrite stage
                self.bar.set_description_str(label, refresh=False)
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(self._postfix(event), refresh=False)
        elif kind == "eval" and self.bar is not None:
            self.valid_loss = event["valid_loss"]
            where = {"sample": " (sample)", "full": ""}.get(event.get("split", ""), "")
            self.bar.write(
                f"step {event['step']}: validation loss{where} {event['valid_loss']:.4f}"
                + (" (best so far, saved)" if event.get("improved") else "")
                + (" (the kept adapter on the whole split)" if event.get("final") else "")
            )
        elif kind == "end" and self.bar is not None:
            self.bar.close()
            self.bar = None
        elif kind == "phase" and self.bar is None:  # the job's other stages: dataset, load, export, gate
            self.stream.write(f"{event['phase']}...\n")
            self.stream.flush()

    def _postfix(self, event: dict) -> dict[str, str]:
        postfix = {"loss": f"{event['loss']:.3f}", "tok/s": f"{event['tokens_per_second']:.0f}"}
        if self.valid_loss is not None:
            postfix["valid"] = f"{self.valid_loss:.3f}"
        return postfix


class RecordingProgress:
    """Keeps every event (tests, and the job's summary)."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event: dict) -> None:
        self.events.append(dict(event))

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == kind]


def fan_out(*callbacks: Progress | None) -> Progress:
    """One callback that calls each of these in turn."""
    chosen = [c for c in callbacks if c is not None]

    def call(event: dict) -> None:
        for callback in chosen:
            callback(event)

    return call
