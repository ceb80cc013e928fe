"""All metrics of one output against its draft and the writer's original, and their means. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from voiced.evaluation.meaning import chrf, kept_share, rouge_l
from voiced.evaluation.shape import flesch_reading_ease, gunning_fog, length_ratio, mtld, sentence_lengths, wasserstein
from voiced.evaluation.stylometry import DeltaModel, voice_score

# name -> (label, higher is better?) ; None: closer to the original's value is better. The first ones are
# the figures a voice is judged by (docs/evaluation.md); the rest describe the text's shape.
METRICS: dict[str, tuple[str, bool | None]] = {
    "chrf_gain": ("chrF gain over the draft", True),
    "towards_char3": ("towards writer (char 3-grams)", True),
    "closer_char3": ("closer to writer than draft (char3)", True),
    "towards_words": ("towards writer (words)", True),
    "closer_words": ("closer to writer than draft (words)", True),
    "attributed_char3": ("attributed to writer (char 3-grams)", True),
    "attributed_words": ("attributed to writer (words)", True),
    "kept_names_numbers": ("names and numbers kept", True),
    "copy": ("copy rate (output == draft)", False),
    "commentary": ("commentary rate", False),
    "guard_rejected": ("rejected by the rewrite guard", False),
    "length_ratio": ("length ratio (output / original)", None),
    "chrf": ("chrF vs original", True),
    "rouge_l": ("ROUGE-L vs original", True),
    "sentence_wasserstein": ("sentence-length distance (words)", False),
    "flesch": ("Flesch reading ease", None),
    "fog": ("Gunning fog", None),
    "mtld": ("MTLD", None),
}


def normalised(text: str) -> str:
    return " ".join(text.split())


def guard_verdict(draft: str, output: str, limits: Any) -> Any:
    """The rewrite guard's judgement of ``output`` (the daemon's own check, so the figures match what
    the writer would be spared). voiced.daemon is imported here only; see docs/evaluation.md."""
    from voiced.inference.rewrite_guard import judge

    return judge(draft, output, limits)


def passage_metrics(
    output: str, rough: str, original: str, writer: str, delta_models: Mapping[str, DeltaModel], limits: Any = None
) -> dict[str, float | None]:
    """Metrics of ``output`` (a rewrite of the draft ``rough``) against the writer's ``original``.

    ``limits`` (rewrite_guard.GuardLimits) turns on the commentary and guard figures."""
    row: dict[str, float | None] = {}
    for kind, model in delta_models.items():
        score = voice_score(model, writer, rough, output)
        row[f"towards_{kind}"] = score.towards_writer
        row[f"closer_{kind}"] = float(score.towards_writer > 0)
        row[f"attributed_{kind}"] = float(score.attributed)
    row["chrf"] = output_chrf = chrf(output, original)
    row["chrf_gain"] = output_chrf - chrf(rough, original)
    row["copy"] = float(normalised(output) == normalised(rough))
    if limits is not None:
        verdict = guard_verdict(rough, output, limits)
        row["commentary"] = float(verdict.code == "commentary")
        row["guard_rejected"] = float(not verdict.accepted)
    row["rouge_l"] = rouge_l(output, original)
    row["kept_names_numbers"] = kept_share(output, original)
    row["length_ratio"] = length_ratio(output, original)
    row["sentence_wasserstein"] = wasserstein(sentence_lengths(output), sentence_lengths(original))
    row["flesch"] = flesch_reading_ease(output)
    row["fog"] = gunning_fog(output)
    row["mtld"] = mtld(output)
    return row


def mean_metrics(rows: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Mean of each metric over the passages where it is defined (None and NaN are left out)."""
    means: dict[str, Any] = {}
    for name in METRICS:
        values = [value for r in rows if (value := r.get(name)) is not None and not math.isnan(value)]
        means[name] = sum(values) / len(values) if values else None
    return means
