"""Cosine Delta: how close a text's style is to a writer's profile, against other authors' profiles.

Burrows' Delta with cosine distance (Smith & Aldridge; Evert et al.): relative
frequencies of the most frequent features, z-scored per feature over chunks of
every profile, then the cosine distance between z-vectors. Pure Python: no torch.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Typography is the editor's, not the writer's: curly or straight, single or double quotes, "--" or an em dash.
_QUOTES = re.compile('["\u201c\u201d\u2018\u2019`]')
_DASHES = re.compile("--+|[\u2013\u2014]")


def plain_typography(text: str) -> str:
    """Every quotation mark made ', every dash made \u2014, runs of whitespace one space."""
    return " ".join(_DASHES.sub("\u2014", _QUOTES.sub("'", text)).split())


def words(text: str) -> list[str]:
    return WORD.findall(plain_typography(text).lower())


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """Character n-grams of the lower-cased text in plain typography."""
    flat = plain_typography(text).lower()
    return [flat[i : i + n] for i in range(len(flat) - n + 1)]


def feature_counts(text: str, kind: str) -> Counter:
    if kind == "char3":
        return Counter(char_ngrams(text, 3))
    if kind == "words":
        return Counter(words(text))
    raise ValueError(f"unknown feature kind {kind!r} (use 'char3' or 'words')")


def relative(counts: Mapping[str, int], features: Sequence[str]) -> list[float]:
    total = sum(counts.values()) or 1
    return [counts.get(f, 0) / total for f in features]


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / norm if norm else 1.0


def chunks_of_words(text: str, size: int) -> list[str]:
    """The text cut into pieces of about ``size`` words (the last one kept if at least half full)."""
    tokens = text.split()
    pieces = [" ".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]
    if len(pieces) > 1 and len(pieces[-1].split()) < size // 2:
        pieces.pop()
    return pieces


@dataclass
class DeltaModel:
    """Profiles (name -> z-vector) over one feature set, with the z-scoring taken from their chunks."""

    kind: str
    features: list[str]
    mean: list[float]
    std: list[float]
    profiles: dict[str, list[float]]

    def zvector(self, text_or_counts: str | Mapping[str, int]) -> list[float]:
        counts = feature_counts(text_or_counts, self.kind) if isinstance(text_or_counts, str) else text_or_counts
        return [(f - m) / s for f, m, s in zip(relative(counts, self.features), self.mean, self.std, strict=False)]

    def distances(self, text: str) -> dict[str, float]:
        """Cosine Delta from ``text`` to every profile (0 = same style; 1 = unrelated; up to 2)."""
        z = self.zvector(text)
        return {name: cosine_distance(z, profile) for name, profile in self.profiles.items()}

    def nearest(self, text: str) -> str:
        found = self.distances(text)
        return min(found, key=found.__getitem__)


def build_delta_model(
    profiles: Mapping[str, str], kind: str, top: int, chunk_words: int = 1000, basis: Mapping[str, str] | None = None
) -> DeltaModel:
    """Cosine Delta over ``profiles``, measured on a ``basis`` of texts (default: the profiles themselves):
    the features are the basis's ``top`` most frequent, and their z-scoring comes from its 1,000-word chunks.

    Each basis text weighs the same in the frequencies, the mean and the spread, however long it is; a
    fixed basis (the reference authors) keeps a writer's z-vector from depending on how much they wrote,
    and features the basis never uses (a modern writer's markup) from swamping every distance."""
    if len(profiles) < 2:
        raise ValueError("Cosine Delta needs at least two profiles to compare against.")
    basis = profiles if basis is None else basis
    counts = {name: feature_counts(text, kind) for name, text in profiles.items()}
    pooled: defaultdict[str, float] = defaultdict(float)  # each basis text's relative frequencies, summed
    for c in (counts.get(name) or feature_counts(text, kind) for name, text in basis.items()):
        total = sum(c.values()) or 1
        for key, value in c.items():
            pooled[key] += value / total
    features = [f for f, _ in sorted(pooled.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    chunk_vectors: list[list[float]] = []
    weights: list[float] = []
    for text in basis.values():
        pieces = chunks_of_words(text, chunk_words) or [text]
        chunk_vectors += [relative(feature_counts(piece, kind), features) for piece in pieces]
        weights += [1 / len(pieces)] * len(pieces)
    weight_total = sum(weights)
    columns = list(zip(*chunk_vectors, strict=False))
    mean = [sum(w * x for w, x in zip(weights, col, strict=False)) / weight_total for col in columns]
    std = [
        math.sqrt(sum(w * (x - m) ** 2 for w, x in zip(weights, col, strict=False)) / weight_total) or 1e-9
        for col, m in zip(columns, mean, strict=False)
    ]
    model = DeltaModel(kind, features, mean, std, {})
    model.profiles = {name: model.zvector(c) for name, c in counts.items()}
    return model


@dataclass(frozen=True)
class VoiceScore:
    """Where a rewrite stands against the writer's profile, beside the rough input it came from."""

    rewrite_delta: float  # Cosine Delta rewrite -> writer
    rough_delta: float  # Cosine Delta rough input -> writer
    towards_writer: float  # rough_delta - rewrite_delta: > 0 means the rewrite moved towards the writer
    attributed: bool  # the rewrite's nearest profile is the writer's


def voice_score(model: DeltaModel, writer: str, rough: str, rewrite: str) -> VoiceScore:
    to_rewrite = model.distances(rewrite)
    rough_delta = model.distances(rough)[writer]
    nearest = min(to_rewrite, key=to_rewrite.__getitem__)
    return VoiceScore(to_rewrite[writer], rough_delta, rough_delta - to_rewrite[writer], nearest == writer)


def attribution_accuracy(model: DeltaModel, labelled: Iterable[tuple[str, str]]) -> float:
    """Share of (profile, text) pairs whose nearest profile is the right one."""
    rows = list(labelled)
    return sum(model.nearest(text) == name for name, text in rows) / len(rows) if rows else 0.0
