"""The training backends behind one interface, and the choice between them.

MLX runs on Apple Silicon when mlx-lm is installed; PEFT + transformers runs
everywhere else (CUDA, MPS, CPU). The choice is plain Python so it is tested
on any machine.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from voiced.config import TrainingSettings
from voiced.trainer.results import TrainingError, TrainResult

Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]
BACKENDS = ("peft", "mlx")


class Backend(Protocol):
    """Every backend trains with this signature and reports through ``progress``."""

    name: str

    def train(
        self,
        model_spec: Any,
        tokenized_train: Sequence[Any],
        tokenized_valid: Sequence[Any],
        settings: TrainingSettings,
        out_dir: Path,
        progress: Progress,
        should_stop: ShouldStop,
        prose: Sequence[Any] = (),  # the language-modelling stage's examples (TrainingSettings.lm_warmup_fraction)
    ) -> TrainResult: ...


def is_apple_silicon(system: str | None = None, machine: str | None = None) -> bool:
    return (system or sys.platform) == "darwin" and (machine or platform.machine()) == "arm64"


def mlx_available() -> bool:
    """mlx and mlx-lm are importable (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("mlx", "mlx_lm"))


def backend_name(preference: str = "auto", *, apple_silicon: bool | None = None, has_mlx: bool | None = None) -> str:
    """Which backend a preference means on this machine (the arguments stand in for the machine)."""
    apple_silicon = is_apple_silicon() if apple_silicon is None else apple_silicon
    has_mlx = mlx_available() if has_mlx is None else has_mlx
    if preference == "auto":
        return "mlx" if apple_silicon and has_mlx else "peft"
    if preference == "peft":
        return "peft"
    if preference == "mlx":
        if not apple_silicon:
            raise TrainingError(
                'The mlx backend runs only on Apple Silicon (macOS arm64). Set `training.backend` to "auto" or "peft".'
            )
        if not has_mlx:
            raise TrainingError(
                'The mlx backend needs mlx-lm: run `pip install mlx-lm`, or set `training.backend` to "peft".'
            )
        return "mlx"
    raise TrainingError(f"Unknown training backend {preference!r}; use one of: auto, {', '.join(BACKENDS)}.")


def choose_backend(preference: str = "auto") -> Backend:
    """The backend object for a preference (auto, peft, mlx)."""
    name = backend_name(preference)
    if name == "mlx":
        from voiced.trainer.mlx_backend import MlxBackend

        return MlxBackend()
    from voiced.trainer.peft_backend import PeftBackend

    return PeftBackend()
