"""What every training backend returns, and the error it raises for expected failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from voiced.errors import VoicedError

# The best adapter is written here inside the run's out_dir, complete or not at all.
BEST_ADAPTER_DIR = "best"
TRAINING_STATE_FILE = "training_state.json"


class TrainingError(VoicedError):
    """A training run that cannot go on (out of memory, no examples), saying what to do."""


@dataclass
class TrainResult:
    """The outcome of one run; ``adapter_dir`` is None when no adapter was kept."""

    backend: str
    adapter_dir: Path | None
    stopped: str  # completed | max_steps | max_minutes | early_stopping | cancelled
    steps: int  # optimizer steps taken
    total_steps: int  # steps planned at the start
    best_step: int | None
    best_valid_loss: float | None
    learning_rate: float  # peak rate used
    seconds: float  # wall time of the run, loading excluded
    tokens: int  # non-padding tokens trained on
    train_losses: list[float] = field(default_factory=list)  # one per step
    valid_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    device: str = "cpu"
    dtype: str = "float32"
    adapter_format: str = "peft"  # "mlx" until voiced.trainer.mlx_convert has turned it into PEFT

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0
