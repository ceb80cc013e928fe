"""Word choice in a draft: the writer's words swapped for everyday synonyms, part of speech kept.

Only lower-case words are touched (a capitalised word may be a name, and a
sentence's first word is left alone for the same reason), never a word joined
to an apostrophe, hyphen, digit or underscore (``_one_`` is the writer's
emphasis). The part of speech comes from the word's dictionary readings and,
when it has several, from its neighbours ("the countenance" is a noun, "to
countenance" a verb); a word whose part of speech stays unclear is kept, so
meaning is never traded for change.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from voiced.trainer.roughen_lexicon import everyday_synonyms, readings

_SWAPPABLE = re.compile(r"(?<![\w'\u2019\-])[a-z]{3,}(?![\w'\u2019\-])")

DETERMINERS = frozenset(
    "the a an his her my your our their its this that these those some any no every each "
    "such whose what which own one".split()
)
VERB_BEFORE = frozenset(
    "to will would shall should can could may might must cannot i he she they we you who not never also".split()
)
DEGREE = frozenset("very so too more most quite rather less least how as".split())
BE = frozenset("be been being is was were are am seem seemed seems looked become became".split())
HAVE = frozenset("have has had having".split())
_CLOSING_QUOTES = ('"', "\u201d", "\u2019", "'")
PREPOSITIONS = frozenset(
    "of in with for by from at on into about without upon towards toward after before "
    "under over through between against among".split()
)


def _words_around(text: str, start: int, end: int) -> tuple[str, str, str]:
    """The word before, the word after and the word two before, lower-cased; '' across punctuation."""
    window = text[max(0, start - 60) : start]  # a short window: a $-anchored search scans all it is given
    before = re.search(r"([A-Za-z]+)(\s+)$", window)
    after = re.match(r"\s+([A-Za-z]+)", text[end : end + 40])
    before2 = re.search(r"([A-Za-z]+)\s+[A-Za-z]+\s+$", window)
    return (
        (before.group(1).lower() if before else ""),
        (after.group(1).lower() if after else ""),
        (before2.group(1).lower() if before2 else ""),
    )


def choose_reading(word: str, before: str, after: str, before2: str = "") -> tuple[str, str, str] | None:
    """(part of speech, lemma, Penn tag) of ``word`` between ``before`` and ``after``, or None when unclear."""
    found = readings(word)
    if not found:
        return None
    upos: str | None = None
    if len(found) == 1:
        upos = next(iter(found))
    elif before in DETERMINERS:
        if "ADJ" in found and after and readings(after).get("NOUN"):
            upos = "ADJ"
        elif "NOUN" in found:
            upos = "NOUN"
    elif before in VERB_BEFORE or before in HAVE:
        upos = "VERB" if "VERB" in found else None
    elif before in DEGREE:
        upos = "ADJ" if "ADJ" in found else ("ADV" if "ADV" in found else None)
    elif before in BE:
        upos = "ADJ" if "ADJ" in found else None
    elif before in PREPOSITIONS:
        if "ADJ" in found and after and readings(after).get("NOUN"):
            upos = "ADJ"
        elif "NOUN" in found:
            upos = "NOUN"
        elif "VERB" in found and word.endswith("ing"):
            upos = "VERB"
    elif after in DETERMINERS or after in ("him", "her", "them", "me", "us", "it", "himself", "herself"):
        upos = "VERB" if "VERB" in found else None
    elif after == "of" and "NOUN" in found:
        upos = "NOUN"
    if upos is None or upos not in found:
        return None
    lemma, tags = found[upos]
    tag = tags[0]
    if upos == "VERB" and {"VBD", "VBN"} <= set(tags):
        tag = "VBN" if (before in HAVE or before in BE or before2 in HAVE or before2 in BE) else "VBD"
    elif upos == "VERB" and {"VB", "VBP"} <= set(tags):
        tag = "VB"
    return upos, lemma, tag


def _article_for(word: str) -> str:
    vowel = word[0] in "aeio" or (word[0] == "u" and not word.startswith(("uni", "use", "usu", "ut")))
    return "an" if vowel or word.startswith(("hour", "honest", "honour", "honor", "heir")) else "a"


def swap_words(
    text: str,
    rng: random.Random,
    signature: Mapping[str, float],
    *,
    signature_rate: float,
    common_rate: float,
    pick_top: int = 1,
    common_gain: float = 1.0,
) -> str:
    """Replace signature words (rate ``signature_rate``) and other rare words that have a far commoner
    synonym (``common_gain`` Zipf or more; rate ``common_rate``) with everyday synonyms.

    ``pick_top`` > 1 chooses at random among the best few synonyms, so
    families differ in which everyday word they reach for.
    """
    pieces: list[str] = []
    last = 0
    for match in _SWAPPABLE.finditer(text):
        word = match.group()
        is_signature = word in signature
        if rng.random() >= (signature_rate if is_signature else common_rate):
            continue
        if text[max(0, match.start() - 3) : match.start()].rstrip().endswith(_CLOSING_QUOTES):
            continue  # a speech tag ("...," continued she): "kept she" would not say who spoke
        before, after, before2 = _words_around(text, match.start(), match.end())
        reading = choose_reading(word, before, after, before2)
        if reading is None:
            continue
        upos, lemma, tag = reading
        options = everyday_synonyms(lemma, upos, tag, 0.3 if is_signature else common_gain, is_signature)
        if not options:
            continue
        replacement = rng.choice(options[:pick_top])
        head = text[last : match.start()]
        article = re.search(r"\b([Aa]n?)(\s+)$", head)
        if article:
            wanted = _article_for(replacement)
            wanted = wanted.capitalize() if article.group(1)[0] == "A" else wanted
            head = head[: article.start(1)] + wanted + article.group(2)
        pieces.append(head + replacement)
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)
