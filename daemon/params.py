"""Turn a request's sampling options into the engine's GenerationParams."""

from __future__ import annotations

import dataclasses
from typing import Any

from voiced.inference.generation import GenerationParams

_OPTIONS = ("max_tokens", "temperature", "top_p", "seed")


def generation_params(request: Any, max_tokens_cap: int) -> GenerationParams:
    """The options the request set (max_tokens lowered to the daemon's cap); the engine decides the rest."""
    known = {f.name for f in dataclasses.fields(GenerationParams)}
    given = {
        name: getattr(request, name) for name in _OPTIONS if name in known and getattr(request, name, None) is not None
    }
    if "max_tokens" in given:
        given["max_tokens"] = min(given["max_tokens"], max_tokens_cap)
    return GenerationParams(**given)
