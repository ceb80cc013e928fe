"""Offline rough drafts: the writer's text as an assistant, a co-author or a hasty first draft would put it.

Rewrite examples teach "rough draft -> the writer's original", so the drafts
must differ from the original the way real drafts do: word choice (the
writer's signature words and other rare words become everyday WordNet
synonyms), register (contractions, "really", "a lot of"), sentence structure
(long sentences split, short ones merged, clauses moved) and punctuation
(semicolons and dashes gone). A draft that is a near-copy teaches a light
copy-edit, so each family is tuned to a word-level similarity well below
1 (docs/drafts.md gives the target and the measurements). Names and numbers
(capitalised words not at a sentence start, anything with a digit) are never
touched, so the model learns the voice rather than invention. Every family is
a deterministic function of the text, a seed and the writer's profile.

``TRAINING_FAMILIES`` are what the dataset builder uses. ``HELD_OUT_FAMILY``
is made by operations no training family performs (asides and -ly adverbs
left out, clauses moved the other way, lower-ranked synonyms) and is reserved
for evaluation: ``roughen`` refuses it, ``held_out_draft`` makes it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from voiced.config import DatasetSettings
from voiced.trainer.roughen_signature import EMPTY_PROFILE, WriterProfile
from voiced.trainer.roughen_structure import (
    contract,
    drop_adverbs,
    drop_asides,
    drop_intensifiers,
    drop_that,
    modern_grammar,
    modern_register,
    modern_spelling,
    plain_punctuation,
    restructure,
    speaker_first,
    split_clauses,
    swap_pairs,
)
from voiced.trainer.roughen_words import swap_words

TRAINING_FAMILIES = ("generic", "verbose", "loose")
HELD_OUT_FAMILY = "heldout"
STYLES = TRAINING_FAMILIES  # the name older callers use

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*|\d+(?:[,.:/-]\d+)*")

HEDGES = re.compile(r"(,\s*)?\b(?:perhaps|rather|somewhat|almost|certainly|surely|I think|I believe)\b(\s*,)?")
STOCK_OPENERS = ("In essence, ", "It is worth noting that ", "Overall, ", "Importantly, ", "In this context, ")
STOCK_CLOSERS = (
    " This highlights the importance of the moment.",
    " This shows how much was at stake.",
    " Ultimately, this matters.",
)
VERBOSE_CLOSERS = (
    " All in all, that is basically what happened.",
    " It is important to keep all of this in mind.",
    " In other words, there was a lot going on.",
    " And that, really, says it all.",
)
FILLERS = ("really", "basically", "actually", "honestly", "truly", "definitely", "clearly")
# Fillers go after these, where an adverb reads naturally ("was really anxious").
_AUXILIARIES = {
    "was",
    "were",
    "is",
    "are",
    "had",
    "has",
    "have",
    "be",
    "been",
    "would",
    "could",
    "should",
    "will",
    "did",
    "do",
    "does",
    "might",
    "must",
}
REDUNDANT_CLAUSES = (
    ", which is to say, in other words,",
    ", as it were, in a manner of speaking,",
    ", and this is important to note,",
    ", if you think about it,",
)
CASUAL_WORDS = {
    "gentleman": "guy",
    "gentlemen": "guys",
    "received": "got",
    "obtained": "got",
    "wished": "wanted",
    "believe": "think",
    "delighted": "thrilled",
    "child": "kid",
    "children": "kids",
}
_FUNCTION_WORDS = {
    "The",
    "It",
    "He",
    "She",
    "They",
    "We",
    "You",
    "This",
    "That",
    "There",
    "But",
    "And",
    "So",
    "His",
    "Her",
    "Their",
    "A",
    "An",
    "In",
    "On",
    "At",
    "As",
    "If",
    "When",
    "What",
    "Nothing",
    "Such",
    "Yet",
    "Then",
    "Now",
    "One",
    "No",
}


@dataclass(frozen=True)
class RoughDraft:
    text: str
    style: str  # a family name (+ "+structure" when sentences were moved)
    source: str = "offline"  # offline or endpoint


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _sentence_starts(text: str) -> set[int]:
    starts = {0}
    for match in _SENTENCE_END.finditer(text):
        starts.add(match.end())
    return starts


def protected_tokens(text: str) -> list[str]:
    """Names and numbers: capitalised words not opening a sentence (except "I"), tokens with digits."""
    starts = _sentence_starts(text)
    quote_or_space = " \t\n\"'\u201c\u2018(-\u2014"
    out = []
    for match in _WORD.finditer(text):
        word = match.group()
        if word[0].isdigit():
            out.append(word)
            continue
        if not word[0].isupper() or word in ("I",) or word.startswith(("I'", "I\u2019")):
            continue
        pos = match.start()
        while pos > 0 and text[pos - 1] in quote_or_space:
            pos -= 1
        opening = pos in starts or pos == 0 or text[pos - 1] in ".!?:;"
        if not opening:
            out.append(word)
    return out


def keeps_names_and_numbers(original: str, rough: str) -> bool:
    """Every protected token of ``original`` occurs in ``rough`` as a whole word."""
    present = {m.group() for m in _WORD.finditer(rough)}
    return all(token in present for token in protected_tokens(original))


def _swap_table(text: str, table: dict[str, str], rng: random.Random, rate: float) -> str:
    """Replace lower-case occurrences of table words (capitalised ones may be names)."""

    def repl(match: re.Match[str]) -> str:
        word = match.group()
        return table[word] if word in table and rng.random() < rate else word

    return re.sub(r"\b[a-z]+\b", repl, text)


def _with_opener(text: str, opener: str) -> str:
    first = text.split(" ", 1)[0]
    if first in ("And", "But", "Or", "So", "Yet") or not first[:1].isalpha():
        return text  # "Overall, and ..." or an opener before speech reads as a mistake, not a draft
    head = first[0].lower() + first[1:] if first in _FUNCTION_WORDS else first
    return opener + head + text[len(first) :]


def _generic(text: str, rng: random.Random, profile: WriterProfile) -> str:
    """An assistant's tidy prose: everyday words, no hedges, no semicolons, stock framing now and then."""
    text = swap_words(text, rng, profile.signature, signature_rate=1.0, common_rate=1.0, common_gain=-0.5)
    text = re.sub(r" {2,}", " ", HEDGES.sub("", modern_spelling(text)))
    text = drop_intensifiers(text, rng, 0.8)
    text = contract(text, rng, 0.4)
    text = speaker_first(swap_pairs(text, rng, 0.5), rng, 0.7)
    text = modern_register(text, rng, 0.4)
    text = drop_that(modern_grammar(text, rng, 0.7), rng, 0.7)
    text = plain_punctuation(split_clauses(text, rng, 0.8), rng, 0.95)
    text = re.sub(r"(?<!\d),(?!\d)(?!\s*[\"'\u201c\u201d])", lambda m: "" if rng.random() < 0.35 else ",", text)
    if rng.random() < 0.4:
        text = _with_opener(text, rng.choice(STOCK_OPENERS))
    if rng.random() < 0.3:
        text = text.rstrip() + rng.choice(STOCK_CLOSERS)
    return text


def _verbose(text: str, rng: random.Random, profile: WriterProfile) -> str:
    """A co-author who pads: fillers, redundant clauses, "in order to", everyday words."""
    original = text
    text = swap_words(text, rng, profile.signature, signature_rate=0.9, common_rate=0.8, pick_top=2, common_gain=-0.5)
    text = contract(modern_spelling(text), rng, 0.5)
    text = speaker_first(swap_pairs(text, rng, 0.4), rng, 0.3)
    text = modern_grammar(modern_register(text, rng, 0.6), rng, 0.5)
    words = text.split(" ")
    out: list[str] = []
    for i, word in enumerate(words):
        out.append(word)
        if i < len(words) - 1 and word in _AUXILIARIES and words[i + 1].isalpha() and rng.random() < 0.6:
            out.append(rng.choice(FILLERS))
        if word.endswith(",") and not word[:-1][-1:].isdigit() and rng.random() < 0.25:
            out[-1] = word[:-1] + rng.choice(REDUNDANT_CLAUSES)
    text = " ".join(out)
    text = re.sub(r"\bto (?=[a-z]+ )", lambda m: "in order to " if rng.random() < 0.4 else m.group(), text)
    text = plain_punctuation(text, rng, 0.6)
    if rng.random() < 0.3:
        text = _with_opener(text, "To be honest, I think that ")
    if rng.random() < 0.35 or len(text.split()) <= len(original.split()):  # a padded draft is always longer
        text = text.rstrip() + rng.choice(VERBOSE_CLOSERS)
    return text


def _loose(text: str, rng: random.Random, profile: WriterProfile) -> str:
    """A hasty first draft: contractions, casual words, commas dropped, short sentences."""
    text = contract(modern_spelling(text), rng, 0.9)
    text = swap_words(text, rng, profile.signature, signature_rate=1.0, common_rate=0.95, pick_top=2, common_gain=-0.5)
    text = speaker_first(swap_pairs(text, rng, 0.5), rng, 0.5)
    text = modern_register(text, rng, 0.8)
    text = _swap_table(text, CASUAL_WORDS, rng, 0.7)
    text = drop_that(modern_grammar(text, rng, 0.9), rng, 0.8)
    text = plain_punctuation(split_clauses(text, rng, 0.8), rng, 0.95)
    text = re.sub(r", and ", lambda m: ". And " if rng.random() < 0.4 else " and ", text)
    text = re.sub(r"(?<!\d),(?!\d)(?!\s*[\"'\u201c\u201d])", lambda m: "" if rng.random() < 0.7 else ",", text)
    return re.sub(r"\s{2,}", " ", text)


def _held_out(text: str, rng: random.Random, profile: WriterProfile) -> str:
    """Evaluation only: lower-ranked synonyms, clauses moved forward, now and then an aside or adverb dropped.

    Deletions are kept rare (0.3): a word the draft lost can only be guessed back, so a family that
    mostly deletes measures invention, not voice; word choice, register and punctuation carry it.
    """
    text = swap_words(text, rng, profile.signature, signature_rate=0.9, common_rate=0.9, pick_top=3, common_gain=-0.5)
    text = drop_asides(text, rng, 0.3)
    text = drop_adverbs(text, rng, 0.3)
    text = contract(modern_spelling(text), rng, 1.0)
    text = modern_register(text, rng, 0.9)
    text = plain_punctuation(text, rng, 1.0)
    return re.sub(r"\s{2,}", " ", text)


Family = Callable[[str, random.Random, WriterProfile], str]
_FAMILIES: dict[str, Family] = {"generic": _generic, "verbose": _verbose, "loose": _loose, HELD_OUT_FAMILY: _held_out}


class _Moves(TypedDict):
    split_rate: float
    merge_rate: float
    reorder_rate: float


class _Structure(_Moves, total=False):
    reverse: bool


# How each family moves sentences (split, merge and reorder chances; held-out moves clauses the other way).
_STRUCTURE: dict[str, _Structure] = {
    "generic": dict(split_rate=0.7, merge_rate=0.2, reorder_rate=0.5),
    "verbose": dict(split_rate=0.2, merge_rate=0.6, reorder_rate=0.4),
    "loose": dict(split_rate=0.8, merge_rate=0.3, reorder_rate=0.3),
    HELD_OUT_FAMILY: dict(split_rate=0.5, merge_rate=0.0, reorder_rate=0.6, reverse=True),
}


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s{2,}", " ", text))
    return text.strip()


def _attempt(text: str, family: str, rng: random.Random, structural_noise: float, profile: WriterProfile) -> RoughDraft:
    rough, label = _FAMILIES[family](text, rng, profile), family
    if rng.random() < structural_noise:
        moved = restructure(rough, rng, **_STRUCTURE[family])
        if moved != rough:
            rough, label = moved, family + "+structure"
    return RoughDraft(_tidy(rough), label)


def _draft(
    text: str,
    seed: int,
    families: tuple[str, ...],
    structural_noise: float,
    profile: WriterProfile,
    fallback_families: tuple[str, ...],
) -> RoughDraft:
    rng = random.Random(f"{seed}:{families[0] if len(families) == 1 else ''}:{text}")
    first = families[0] if len(families) == 1 else rng.choice(families)
    original = text.strip()
    for candidate in (first, *(f for f in fallback_families if f != first)):
        draft = _attempt(text, candidate, rng, structural_noise, profile)
        if draft.text != original and keeps_names_and_numbers(text, draft.text):
            return draft
    restructured = _tidy(restructure(text, rng, **_STRUCTURE[first]))
    if restructured != original and keeps_names_and_numbers(text, restructured):
        return RoughDraft(restructured, "structure")
    return RoughDraft("So, basically, " + original, "fallback")


def roughen(
    text: str,
    seed: int,
    style: str | None = None,
    structural_noise: float | None = None,
    profile: WriterProfile | None = None,
) -> RoughDraft:
    """A deterministic training draft of ``text`` that differs from it and keeps its names and numbers.

    ``style`` is one of ``TRAINING_FAMILIES`` (None: chosen by the seed); the
    chosen family is tried first, then the others; a draft that lost a name or
    a number, or changed nothing, is discarded. ``profile`` holds the writer's
    signature words (``roughen_signature.writer_profile``). ``structural_noise``
    is ``[dataset] structural_noise`` unless given.
    """
    if structural_noise is None:
        structural_noise = DatasetSettings().structural_noise
    if style == HELD_OUT_FAMILY:
        raise ValueError(f"The {HELD_OUT_FAMILY!r} family is reserved for evaluation; use held_out_draft().")
    if style is not None and style not in TRAINING_FAMILIES:
        raise ValueError(f"Unknown roughening style {style!r}; use one of {', '.join(TRAINING_FAMILIES)}.")
    families = (style,) if style else TRAINING_FAMILIES
    return _draft(text, seed, families, structural_noise, profile or EMPTY_PROFILE, TRAINING_FAMILIES)


def held_out_draft(
    text: str, seed: int, profile: WriterProfile | None = None, structural_noise: float = 0.7
) -> RoughDraft:
    """A draft by the held-out family, for evaluation: no training draft is ever made this way."""
    return _draft(text, seed, (HELD_OUT_FAMILY,), structural_noise, profile or EMPTY_PROFILE, (HELD_OUT_FAMILY,))
