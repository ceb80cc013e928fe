"""When a run ends early: patience on the validation loss, a wall-clock budget.

Shared by every backend so they stop for the same reasons with the same words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Why a run ended, as recorded in TrainResult.stopped and the "end" progress event.
COMPLETED = "completed"
MAX_STEPS = "max_steps"
MAX_MINUTES = "max_minutes"
EARLY_STOPPING = "early_stopping"
CANCELLED = "cancelled"


@dataclass
class EarlyStopping:
    """Tracks the best validation loss; ``should_stop`` after ``patience`` evaluations without improvement."""

    patience: int
    min_delta: float = 0.0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0

    def update(self, step: int, loss: float) -> bool:
        """Record an evaluation; True when it is the best so far (a NaN loss never is)."""
        if loss != loss:
            self.bad_evals += 1
            return False
        if self.best is None or loss < self.best - self.min_delta:
            self.best, self.best_step, self.bad_evals = loss, step, 0
            return True
        self.bad_evals += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_evals >= self.patience


@dataclass
class TimeBudget:
    """A wall-clock budget in minutes (0 = none), started at construction."""

    minutes: float
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float | None:
        if self.minutes <= 0:
            return None
        return max(0.0, self.minutes * 60 - self.elapsed)

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0.0
