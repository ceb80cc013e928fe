"""Learning rate: the LoRA heuristic for the peak, warm-up then linear decay.

The heuristic (peak lr = 5e-5 * 10 * (2000 / hidden_size)^0.781) fits Llama-family
models from 1B up; below that it keeps growing (hidden 576 gives 1.3e-3), so it
is capped by ``TrainingSettings.max_learning_rate``.
"""

from __future__ import annotations

import math

from voiced.config import TrainingSettings

HEURISTIC_BASE = 5e-5 * 10
HEURISTIC_HIDDEN = 2000
HEURISTIC_EXPONENT = 0.781


def heuristic_learning_rate(hidden_size: int, cap: float) -> float:
    """The LoRA learning-rate heuristic for a model of this hidden size, capped."""
    if hidden_size <= 0:
        raise ValueError(f"hidden_size must be positive, not {hidden_size}")
    value = HEURISTIC_BASE * (HEURISTIC_HIDDEN / hidden_size) ** HEURISTIC_EXPONENT
    return min(value, cap) if cap > 0 else value


def resolve_learning_rate(settings: TrainingSettings, hidden_size: int) -> float:
    """The configured learning rate, or the heuristic when it is 0."""
    if settings.learning_rate > 0:
        return settings.learning_rate
    return heuristic_learning_rate(hidden_size, settings.max_learning_rate)


def warmup_steps(total_steps: int, warmup_fraction: float) -> int:
    """Steps of linear warm-up: a fraction of the run, at least one when there is any."""
    if total_steps <= 0 or warmup_fraction <= 0:
        return 0
    return min(total_steps - 1, max(1, math.ceil(total_steps * warmup_fraction)))


def lr_factor(step: int, total_steps: int, warmup: int) -> float:
    """Multiplier of the peak rate for 0-based ``step``: ramp up over ``warmup``, then decay to 0."""
    if warmup > 0 and step < warmup:
        return (step + 1) / (warmup + 1)
    remaining = total_steps - warmup
    if remaining <= 0:
        return 1.0
    return max(0.0, (total_steps - step) / remaining)


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return math.ceil(examples / batch_size) if examples else 0


def total_steps(examples: int, settings: TrainingSettings) -> int:
    """Optimizer steps the run plans for: every epoch, or ``max_steps`` when smaller."""
    planned = steps_per_epoch(examples, settings.batch_size) * settings.epochs
    return min(planned, settings.max_steps) if settings.max_steps > 0 else planned


def lm_warmup_steps(total: int, fraction: float) -> int:
    """Steps of the language-modelling stage out of ``total``: a share of the run, at least one when
    asked for, and always leaving at least one step to the rewrite stage."""
    if total < 2 or fraction <= 0:
        return 0
    return min(total - 1, max(1, round(total * fraction)))


def staged_lr_factor(step: int, lm_steps: int, total: int, warmup_fraction: float) -> float:
    """:func:`lr_factor` for a run of two stages: the language-modelling stage (``lm_steps``) and the
    rewrite stage (the rest) each warm up and decay on their own, so the rewrite stage starts at the
    peak rate on the weights the first stage left, as a run without it would."""
    if step < lm_steps:
        return lr_factor(step, lm_steps, warmup_steps(lm_steps, warmup_fraction))
    rest = total - lm_steps
    return lr_factor(step - lm_steps, rest, warmup_steps(rest, warmup_fraction))
