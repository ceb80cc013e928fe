"""The writer's signature words: what they use far more often than everyday English and other authors.

A draft a writer would select to "rewrite in my voice" lacks exactly these
words, so the drafts made for training swap them for everyday synonyms first.
Keyness is the writer's rate over a baseline: the geometric mean of the rate in
everyday English (wordfreq) and the rate in the reference authors' profiles
(voiced.reference_profiles), so a word counts when it is rare in both the
modern language and the other authors, and a period word every reference author
shares still counts against modern English.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from voiced.trainer.roughen_lexicon import rate, readings

_LOWER_WORD = re.compile(r"(?<![\w'\u2019])[a-z]+(?![\w'\u2019])")
_ANY_WORD = re.compile(r"[A-Za-z]+")

MIN_COUNT = 3  # a word seen fewer times says nothing about the writer
MIN_KEYNESS = 4.0  # at least four times the baseline rate
MAX_SIGNATURE = 500


@dataclass(frozen=True)
class WriterProfile:
    """What the drafts take away from the writer: signature word -> keyness (writer rate / baseline rate)."""

    signature: Mapping[str, float] = field(default_factory=dict)
    words: int = 0

    def top(self, n: int = 20) -> list[str]:
        return sorted(self.signature, key=lambda w: (-self.signature[w], w))[:n]


EMPTY_PROFILE = WriterProfile()


def _lower_counts(texts: Iterable[str]) -> tuple[Counter, int]:
    counts: Counter = Counter()
    total = 0
    for text in texts:
        total += len(_ANY_WORD.findall(text))
        counts.update(_LOWER_WORD.findall(text))
    return counts, total


def writer_profile(texts: Iterable[str], references: Mapping[str, str] | None = None) -> WriterProfile:
    """Signature words of the writer's ``texts`` against ``references``.

    ``references`` maps a name to a text; by default, the shipped profiles."""
    if references is None:
        from voiced.reference_profiles import reference_profiles

        try:
            references = reference_profiles()
        except OSError:  # a damaged install: everyday English alone is still a baseline
            references = {}
    counts, total = _lower_counts(texts)
    if not total:
        return EMPTY_PROFILE
    ref_counts, ref_total = _lower_counts(references.values())
    floor_general = 1e-8
    floor_reference = 0.5 / max(ref_total, 1)
    signature = {}
    for word, count in counts.items():
        if count < MIN_COUNT or len(word) < 3:
            continue
        general = max(rate(word), floor_general)
        reference = max(ref_counts.get(word, 0) / max(ref_total, 1), floor_reference)
        keyness = (count / total) / math.sqrt(general * reference)
        if keyness >= MIN_KEYNESS and readings(word):
            signature[word] = round(keyness, 2)
    kept = sorted(signature, key=lambda w: (-signature[w], w))[:MAX_SIGNATURE]
    return WriterProfile({w: signature[w] for w in kept}, total)
