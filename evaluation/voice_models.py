"""The Cosine Delta models an evaluation scores with: the writer's profile among the reference authors.

Features and their z-scoring come from the reference authors' excerpts alone
(each weighing the same), so the writer's profile does not move the yardstick
however much or little they wrote. Attribution asks "the writer, or one of
these other authors?". When the writer *is* one of the reference authors
(the demo corpus is Austen's), that author's profile would compete with the
writer's own and attribution would be a coin toss between two profiles of one
author, so it is set aside: a reference whose Cosine Delta (character
3-grams) to the writer's profile is below ``SAME_AUTHOR_DELTA``. Measured on
the shipped profiles with the last 30% of each book as the writer: the same
author lies at 0.37-0.69 (0.56 for the demo corpus), 0.70-0.88 with only
3,500 words of it; the team's modern notes lie at 0.92-1.07 from every
author, and other authors of the period at 0.98 or more (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voiced.evaluation.stylometry import DeltaModel, build_delta_model, cosine_distance
from voiced.reference_profiles import reference_profiles

WRITER = "writer"
SAME_AUTHOR_DELTA = 0.85


@dataclass
class VoiceModels:
    """One Delta model per feature kind over the writer's and the kept reference authors' profiles."""

    models: dict[str, DeltaModel]
    references: list[str]  # the reference authors compared with
    set_aside: dict[str, float] = field(default_factory=dict)  # reference -> its Delta to the writer

    def notes(self) -> list[str]:
        return [
            f"reference {name!r} set aside as the writer's own author (Cosine Delta {delta:.2f} to the "
            f"writer's profile, below {SAME_AUTHOR_DELTA})"
            for name, delta in self.set_aside.items()
        ]


def same_author_references(model: DeltaModel, references: Mapping[str, str]) -> dict[str, float]:
    """The references close enough to the writer's profile in ``model`` to be the same author, with their Delta."""
    distances = {name: cosine_distance(model.profiles[WRITER], model.profiles[name]) for name in references}
    close = {name: round(d, 3) for name, d in distances.items() if d < SAME_AUTHOR_DELTA}
    if close and len(close) == len(references):  # keep at least one other author: the farthest
        close.pop(max(close, key=close.__getitem__))
    return close


def voice_models(writer_text: str, settings: Any, references: Mapping[str, str] | None = None) -> VoiceModels:
    """Char 3-gram and word models of the writer (``writer_text``: the train split) against the references."""
    references = dict(reference_profiles() if references is None else references)
    char3 = build_delta_model(
        dict(references, **{WRITER: writer_text}), "char3", settings.char_ngram_features, basis=references
    )
    set_aside = same_author_references(char3, references)
    for name in set_aside:
        del char3.profiles[name]  # the features and their z-scoring stay the references' own
    kept = {name: text for name, text in references.items() if name not in set_aside}
    words = build_delta_model(dict(kept, **{WRITER: writer_text}), "words", settings.word_features, basis=references)
    models = {"char3": char3, "words": words}
    return VoiceModels(models, sorted(kept), set_aside)
