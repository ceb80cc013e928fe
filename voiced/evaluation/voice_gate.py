"""The "nll+voice" gate check: a candidate that models the text better must not sound less like the writer.

Meant to run after the NLL gate promotes (voiced.trainer.gate): both adapters
rewrite the same test passages on one Engine, and the candidate's mean
"towards writer" (Cosine Delta on character 3-grams) may not fall below the
reference's by more than ``tolerance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voiced.evaluation.run import EvalResult, Target, generate_outputs, score_outputs


def voice_regression(engine: Any, voice: str, passages: list, writer_text: str, settings: Any,
                     candidate_gguf: Path, reference_gguf: Path | None) -> tuple[bool, str, dict[str, float]]:
    """(passes, reason, mean towards-writer per side); ``reference_gguf`` None means the base model."""
    from voiced.daemon.generation import GenerationParams

    found = [Target("reference", gguf=reference_gguf), Target("candidate", gguf=candidate_gguf)]
    params = GenerationParams(temperature=0.0, seed=settings.seed, max_tokens=settings.max_tokens)
    result = EvalResult(voice, list(passages), generate_outputs(engine, voice, found, list(passages), params))
    score_outputs(result, writer_text, settings)
    towards = {label: result.metrics[label]["towards_char3"] for label in ("reference", "candidate")}
    drop = towards["reference"] - towards["candidate"]
    if drop > settings.voice_gate_tolerance:
        return False, (f"voice regressed: towards-writer {towards['candidate']:.3f} vs "
                       f"{towards['reference']:.3f} (tolerance {settings.voice_gate_tolerance:g})"), towards
    return True, f"voice kept: towards-writer {towards['candidate']:.3f} vs {towards['reference']:.3f}", towards
