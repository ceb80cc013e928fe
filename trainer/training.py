"""The one entry point for a training run: pick the backend, train, return the result.

The job orchestration (registry, gate) calls :func:`train`; the CLI and the
daemon only pass callbacks from ``voiced.trainer.callbacks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voiced.config import TrainingSettings
from voiced.trainer.backends import Progress, ShouldStop, choose_backend
from voiced.trainer.results import TrainResult


def _never() -> bool:
    return False


def _ignore(_event: dict) -> None:
    return None


def train(
    model_spec: Any,
    tokenized_train: Sequence[Any],
    tokenized_valid: Sequence[Any],
    settings: TrainingSettings,
    out_dir: Path,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    prose: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA adapter on tokenized examples; the best one is kept in ``out_dir/best``.

    ``model_spec`` is a voice's ``base_model`` string, a ``BaseModelRef``, or an
    already loaded transformers model (PEFT only; its LoRA layers are removed
    again before returning). ``prose`` (plain-text examples of the writer's training split,
    ``voiced.trainer.prose``) is the language-modelling stage that ``settings.lm_warmup_fraction``
    of the steps spend before the rewrite stage. Raises ``TrainingError`` for expected failures.
    """
    backend = choose_backend(settings.backend)
    return backend.train(
        model_spec,
        tokenized_train,
        tokenized_valid,
        settings,
        Path(out_dir),
        progress or _ignore,
        should_stop or _never,
        prose=prose,
    )
