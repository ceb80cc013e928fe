"""All metrics of one output against its rough input and the writer's original, and their means. Pure."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from voiced.evaluation.meaning import chrf, kept_share, rouge_l
from voiced.evaluation.shape import (flesch_reading_ease, gunning_fog, length_ratio, mtld, sentence_lengths,
                                     wasserstein)
from voiced.evaluation.stylometry import DeltaModel, voice_score

# name -> (label, higher is better?) ; None: closer to the original's value is better
METRICS: dict[str, tuple[str, bool | None]] = {
    "towards_char3": ("towards writer (char 3-grams)", True),
    "towards_words": ("towards writer (words)", True),
    "attributed_char3": ("attributed to writer (char 3-grams)", True),
    "attributed_words": ("attributed to writer (words)", True),
    "chrf": ("chrF vs original", True),
    "rouge_l": ("ROUGE-L vs original", True),
    "kept_names_numbers": ("names and numbers kept", True),
    "length_ratio": ("length ratio (output / original)", None),
    "sentence_wasserstein": ("sentence-length distance (words)", False),
    "flesch": ("Flesch reading ease", None),
    "fog": ("Gunning fog", None),
    "mtld": ("MTLD", None),
}


def passage_metrics(output: str, rough: str, original: str, writer: str,
                    delta_models: Mapping[str, DeltaModel]) -> dict[str, float | None]:
    """Metrics of ``output`` (a rewrite of ``rough``) against the writer's ``original``."""
    row: dict[str, float | None] = {}
    for kind, model in delta_models.items():
        score = voice_score(model, writer, rough, output)
        row[f"towards_{kind}"] = score.towards_writer
        row[f"attributed_{kind}"] = float(score.attributed)
    row["chrf"] = chrf(output, original)
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
        values = [r[name] for r in rows if r.get(name) is not None and not math.isnan(r[name])]
        means[name] = sum(values) / len(values) if values else None
    return means
