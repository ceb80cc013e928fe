"""What a generation request asks for, and the errors the engine raises.

Shared by the engine and its backends; no model code here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

from voiced.config import InferenceSettings
from voiced.errors import VoicedError


class EngineError(VoicedError):
    """The engine cannot serve a request: what happened and what to do about it."""


class UnknownVoice(EngineError):
    """The request names a voice the configuration does not have."""


class EmptyText(EngineError):
    """The request has no text to rewrite or continue."""


class ModelLoadError(EngineError):
    """The voice's base model or adapter cannot be loaded."""


class GenerationCancelled(Exception):
    """The caller's cancel event was set: the stream raises this instead of ending quietly,
    so a cancelled rewrite is never mistaken for a complete (shorter) one."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling and length for one request; ``None`` fields take the configured defaults.

    ``max_tokens`` caps the output; when it is None a rewrite may be
    ``max_tokens_factor`` x its input tokens + ``max_tokens_extra`` long, and
    a continuation or chat turn ``continue_tokens``. The context size and
    threads are load-time settings (``InferenceSettings.n_ctx``/``n_threads``).
    """

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    max_tokens_factor: float | None = None
    max_tokens_extra: int | None = None
    draft_anchor: float | None = None  # rewrites only: see voiced.inference.draft_anchor

    def resolved(self, settings: InferenceSettings) -> GenerationParams:
        """Every ``None`` filled from ``settings``; a seed of -1 becomes a fresh random seed."""
        filled = {
            f.name: getattr(settings, f.name)
            for f in fields(self)
            if getattr(self, f.name) is None and hasattr(settings, f.name)
        }
        params = replace(self, **filled)
        if params.seed is None or params.seed < 0:
            params = replace(params, seed=random.SystemRandom().randrange(2**31 - 1))
        _check(params)
        return params

    def rewrite_budget(self, input_tokens: int, cap: int) -> int:
        """Tokens a rewrite of ``input_tokens`` may produce: derived from the input, never above ``cap``."""
        assert self.max_tokens_factor is not None and self.max_tokens_extra is not None, "resolved() fills them"
        derived = int(self.max_tokens_factor * input_tokens) + self.max_tokens_extra
        if self.max_tokens is not None:
            derived = min(derived, self.max_tokens)
        return max(1, min(derived, cap))


def _check(params: GenerationParams) -> None:
    assert params.temperature is not None and params.top_p is not None and params.top_k is not None
    assert params.repeat_penalty is not None and params.max_tokens_factor is not None  # filled from the settings
    problems = []
    if params.temperature < 0:
        problems.append("temperature must be >= 0")
    if not 0 < params.top_p <= 1:
        problems.append("top_p must be in (0, 1]")
    if params.top_k < 0:
        problems.append("top_k must be >= 0")
    if params.repeat_penalty <= 0:
        problems.append("repeat_penalty must be > 0")
    if params.max_tokens is not None and params.max_tokens < 1:
        problems.append("max_tokens must be >= 1")
    if params.max_tokens_factor <= 0:
        problems.append("max_tokens_factor must be > 0")
    if problems:
        raise EngineError(
            "Invalid generation parameters: " + "; ".join(problems) + ".",
            fix="Correct the request, or the [inference] section of the config.",
        )
