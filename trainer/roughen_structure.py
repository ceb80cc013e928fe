"""Sentence structure, register and punctuation of a draft: how hasty or modern prose differs from a writer's.

Each operation keeps every word that carries content (names, numbers, nouns,
verbs) and never adds or removes a quotation mark, so speech stays speech.
Sentences are found with abbreviations in mind ("Mr. Knightley" is one
sentence), and sentences holding quotation marks are never merged or reordered.
"""

from __future__ import annotations

import random
import re

_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Col", "Capt", "Gen", "Rev", "Sir", "Prof", "Jr", "Sr", "vs", "etc")
_BOUNDARY = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)]*)\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])")
_QUOTES = set('"\u201c\u201d')
# Sentence openers that may be lower-cased inside a merged sentence (never "I" or a name).
FUNCTION_OPENERS = frozenset(
    "The It He She They We You This That There But And So His Her Their A An In On At As If "
    "When What Nothing Such Yet Then Now One No My Our Your Its These Those Some Every".split()
)
SUBORDINATORS = (
    "When",
    "If",
    "Though",
    "Although",
    "While",
    "As soon as",
    "Before",
    "After",
    "Since",
    "Because",
    "Unless",
    "Till",
    "Until",
    "Whenever",
    "Wherever",
    "Whatever",
)

CONTRACTIONS = {
    "do not": "don't",
    "does not": "doesn't",
    "did not": "didn't",
    "is not": "isn't",
    "was not": "wasn't",
    "were not": "weren't",
    "have not": "haven't",
    "has not": "hasn't",
    "had not": "hadn't",
    "would not": "wouldn't",
    "could not": "couldn't",
    "should not": "shouldn't",
    "cannot": "can't",
    "can not": "can't",
    "will not": "won't",
    "must not": "mustn't",
    "are not": "aren't",
    "it is": "it's",
    "that is": "that's",
    "there is": "there's",
    "what is": "what's",
    "I am": "I'm",
    "you are": "you're",
    "they are": "they're",
    "we are": "we're",
    "he is": "he's",
    "she is": "she's",
    "I have": "I've",
    "you have": "you've",
    "we have": "we've",
    "they have": "they've",
    "I would": "I'd",
    "I will": "I'll",
    "you will": "you'll",
    "we will": "we'll",
    "let us": "let's",
    "I shall": "I'll",
    "we shall": "we'll",
    "shall not": "won't",
    "I had": "I'd",
    "he would": "he'd",
    "she would": "she'd",
}
# Modern register: intensifiers and quantities as people write them now.
REGISTER = {
    "very": "really",
    "exceedingly": "really",
    "extremely": "really",
    "excessively": "really",
    "a great deal of": "a lot of",
    "a great deal": "a lot",
    "a great many": "a lot of",
    "many": "a lot of",
    "perhaps": "maybe",
    "although": "though",
    "whilst": "while",
    "amongst": "among",
    "upon": "on",
    "shall": "will",
    "immediately": "right away",
    "scarcely": "hardly",
    "certainly": "definitely",
    "indeed": "really",
    "quite": "really",
}
# Period spellings and split compounds as a modern draft writes them.
MODERN_SPELLING = {
    "every body": "everybody",
    "any body": "anybody",
    "some body": "somebody",
    "no body": "nobody",
    "every thing": "everything",
    "any thing": "anything",
    "some thing": "something",
    "any one": "anyone",
    "every one": "everyone",
    "to-morrow": "tomorrow",
    "to-day": "today",
    "to-night": "tonight",
    "surprize": "surprise",
    "surprized": "surprised",
    "surprizing": "surprising",
    "connexion": "connection",
    "connexions": "connections",
    "shew": "show",
    "shewed": "showed",
    "shewn": "shown",
    "chuse": "choose",
    "dulness": "dullness",
    "staid": "stayed",
    "encreased": "increased",
    "recal": "recall",
    "inclosed": "enclosed",
}
_SPEECH_VERBS = "said|replied|cried|added|continued|answered|observed|returned|exclaimed"
_MANY_BLOCKERS = ("so", "how", "as", "too", "very", "a", "the", "great", "good", "not", "many", "and", "or")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, their closing quotes kept with them, abbreviations not taken for ends."""
    parts: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        head = text[start : match.start()]
        last_word = re.search(r"([A-Za-z]+)\.$", head)
        if last_word and last_word.group(1) in _ABBREVIATIONS:
            continue
        parts.append(text[start : match.end(1)] if match.group(1) else head)
        start = match.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _upper_first(text: str) -> str:
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def _lower_opener(text: str) -> str:
    first = text.split(" ", 1)[0]
    return first.lower() + text[len(first) :] if first in FUNCTION_OPENERS else text


def _has_quote(text: str) -> bool:
    return any(ch in _QUOTES for ch in text) or "'" in text.replace("'s", "").replace("n't", "")


def split_long(sentence: str, rng: random.Random, min_words: int = 18) -> str:
    """A long sentence cut in two at a semicolon, ", and", ", but" or a dash near its middle."""
    words = sentence.split()
    if len(words) < min_words:
        return sentence
    cuts = [m for m in re.finditer(r"\s*;\s+|,\s+(?=(?:and|but|for|yet|so)\s)|\s*(?:--|\u2014)\s*", sentence)]
    cuts = [
        m
        for m in cuts
        if len(sentence[: m.start()].split()) >= 5
        and len(sentence[m.end() :].split()) >= 5
        and not sentence[: m.start()].endswith(("!", "?"))
    ]
    if not cuts:
        return sentence
    middle = len(sentence) / 2
    cut = min(cuts, key=lambda m: abs(m.start() - middle) + rng.random() * 20)
    return sentence[: cut.start()].rstrip(",") + ". " + _upper_first(sentence[cut.end() :])


def merge_short(sentences: list[str], rng: random.Random, max_words: int = 14) -> list[str]:
    """Two short neighbouring sentences (no speech in either) joined with ", and" or a comma splice."""
    spots = [
        i
        for i in range(len(sentences) - 1)
        if len(sentences[i].split()) <= max_words
        and len(sentences[i + 1].split()) <= max_words
        and sentences[i].endswith(".")
        and not _has_quote(sentences[i])
        and not _has_quote(sentences[i + 1])
    ]
    if not spots:
        return sentences
    i = rng.choice(spots)
    joiner = rng.choice((", and ", ", and ", ", "))
    merged = sentences[i][:-1] + joiner + _lower_opener(sentences[i + 1])
    return [*sentences[:i], merged, *sentences[i + 2 :]]


def front_to_back(sentence: str) -> str:
    """ "When she came, he left." -> "He left when she came." (only a plain two-clause sentence)."""
    for word in SUBORDINATORS:
        match = re.match(rf"^{word} ([^,;:\"\u201c\u201d]+), ([^,;:\"\u201c\u201d]+)([.!?])$", sentence)
        if match and len(match.group(1).split()) <= 14:
            main = _upper_first(match.group(2))
            return f"{main} {word[0].lower() + word[1:]} {match.group(1)}{match.group(3)}"
    return sentence


_FRONTED = (
    "In",
    "At",
    "On",
    "With",
    "For",
    "After",
    "Before",
    "During",
    "By",
    "From",
    "Upon",
    "Within",
    "Without",
    "Among",
    "Amongst",
    "Under",
    "Since",
    "Till",
    "Until",
    "Throughout",
    "Towards",
)


def fronted_phrase_back(sentence: str) -> str:
    """ "In a moment he went on." -> "He went on in a moment." (a fronted phrase of at most eight words)."""
    match = re.match(r"^([A-Z][a-z]+) ([^,;:\"\u201c\u201d]+), ([^;:\"\u201c\u201d]+)([.!?])$", sentence)
    if not match or match.group(1) not in _FRONTED or len(match.group(2).split()) > 8:
        return sentence
    main = match.group(3)
    if len(main.split()) < 3:
        return sentence
    return f"{_upper_first(main)} {match.group(1).lower()} {match.group(2)}{match.group(4)}"


def back_to_front(sentence: str) -> str:
    """ "He left when she came." -> "When she came, he left." (the reverse move, for the held-out family)."""
    for word in ("because", "when", "although", "though", "if", "after", "before", "unless", "until", "while"):
        match = re.match(rf"^([^,;:\"\u201c\u201d]+) {word} ([^,;:\"\u201c\u201d]+)([.!?])$", sentence)
        if match and len(match.group(1).split()) >= 3 and len(match.group(2).split()) >= 3:
            return f"{word.capitalize()} {match.group(2)}, {_lower_opener(match.group(1))}{match.group(3)}"
    return sentence


_CONTRACTION_PATTERNS = [
    (re.compile(rf"\b{re.escape(phrase)}\b", re.IGNORECASE if phrase[0] != "I" else 0), short)
    for phrase, short in CONTRACTIONS.items()
]
_REGISTER_PATTERNS = [
    (re.compile(rf"(?<![\w'\u2019\-])({re.escape(phrase)})(?![\w'\u2019\-])"), phrase, modern)
    for phrase, modern in REGISTER.items()
]


def contract(text: str, rng: random.Random, rate: float) -> str:
    """ "did not" -> "didn't", "It is" -> "It's" (case kept)."""
    for pattern, short in _CONTRACTION_PATTERNS:

        def repl(match: re.Match[str], short: str = short) -> str:
            if rng.random() >= rate:
                return match.group()
            return short[0].upper() + short[1:] if match.group()[0].isupper() else short

        text = pattern.sub(repl, text)
    return text


def modern_register(text: str, rng: random.Random, rate: float) -> str:
    """Period intensifiers, quantities and connectives in today's words ("very" -> "really", "many" -> "a lot of")."""
    for pattern, phrase, modern in _REGISTER_PATTERNS:

        def repl(match: re.Match[str], phrase: str = phrase, modern: str = modern, source: str = text) -> str:
            if rng.random() >= rate:
                return match.group()
            if phrase == "many":
                before = source[max(0, match.start() - 12) : match.start()].split()
                after = source[match.end() : match.end() + 2]
                if (
                    (before and before[-1].lower() in _MANY_BLOCKERS)
                    or not after.startswith(" ")
                    or not after[1:2].isalpha()
                ):
                    return match.group()
                if source[match.end() : match.end() + 4] == " of ":
                    return "a lot"
            return modern

        text = pattern.sub(repl, text)
    return text


def modern_spelling(text: str) -> str:
    """ "every body" -> "everybody", "surprize" -> "surprise"."""
    for old, new in MODERN_SPELLING.items():
        text = re.sub(rf"(?<![\w\-])({re.escape(old)})(?![\w\-])", new, text)
    return text


def speaker_first(text: str, rng: random.Random, rate: float) -> str:
    """ "said Emma" -> "Emma said", "replied Mr. Knightley" -> "Mr. Knightley replied"."""
    pattern = re.compile(
        rf"(?<=[\"\u201d\u2019] )({_SPEECH_VERBS}) "
        r"((?:(?:Mr|Mrs|Dr)\. |Miss |Lady |Sir |Colonel |Captain )?[A-Z][a-z]+)\b"
    )
    return pattern.sub(lambda m: f"{m.group(2)} {m.group(1)}" if rng.random() < rate else m.group(), text)


def drop_intensifiers(text: str, rng: random.Random, rate: float) -> str:
    """ "very", "quite", "so" before an adjective left out, as tidy assistant prose does."""
    return re.sub(
        r"\b(?:very|quite|so|extremely|exceedingly|really) (?=[a-z]+[ ,.;!?])",
        lambda m: "" if rng.random() < rate else m.group(),
        text,
    )


def plain_punctuation(text: str, rng: random.Random, rate: float) -> str:
    """Semicolons, colons between clauses and dashes as full stops or commas: drafts rarely use them."""

    def repl(match: re.Match[str]) -> str:
        if rng.random() >= rate:
            return match.group()
        return ". " if rng.random() < 0.6 else ", "

    text = re.sub(r"(?<=[.!?:;,])(?:--|\u2014)", " ", text)
    text = re.sub(r"\s*;\s+|\s*:\s+(?=[a-z])|\s*(?:--|\u2014)\s*(?=[A-Za-z])", repl, text)
    text = re.sub(r"\. +([a-z])", lambda m: ". " + m.group(1).upper(), text)
    return re.sub(r",\s*,", ",", text)


_SUBJECTS = frozenset(
    "he she it they we you i there this that the his her their my our its a an one nobody "
    "everybody nothing everything".split()
)


def split_clauses(text: str, rng: random.Random, rate: float) -> str:
    """Every ", and" / ", but" / ", for" between two clauses of four words or more may become a full stop
    ("..., and she knew it" -> "... She knew it."), the way a hasty or modern draft writes short sentences."""
    out, last = [], 0
    for match in re.finditer(r",\s+(and|but|for|yet|so|or)\s+(?=[a-z])", text):
        left = text[last : match.start()]
        sentence_so_far = re.split(r"[.!?]\s", left)[-1]
        right = text[match.end() :]
        right_clause = re.split(r"[,.;:!?]", right, maxsplit=1)[0]
        if len(sentence_so_far.split()) < 4 or len(right_clause.split()) < 4 or rng.random() >= rate:
            continue
        joiner = match.group(1)
        has_subject = right.split(" ", 1)[0] in _SUBJECTS
        keep_joiner = joiner != "and" or not has_subject or rng.random() < 0.4
        out.append(left + ". " + (joiner.capitalize() + " " if keep_joiner else ""))
        last = match.end()
        if not keep_joiner:
            out.append(_upper_first(text[last : last + 1]))
            last += 1
    out.append(text[last:])
    return "".join(out)


def drop_that(text: str, rng: random.Random, rate: float) -> str:
    """ "she thought that he" -> "she thought he": the complementiser modern prose leaves out."""
    verbs = "thought|think|knew|know|felt|feel|said|say|believed|believe|hoped|hope|was sure|am sure|found|saw|wished"
    return re.sub(
        rf"\b({verbs}) that (?=(?:he|she|it|they|we|you|I|there|his|her|the|a)\b)",
        lambda m: m.group(1) + " " if rng.random() < rate else m.group(),
        text,
    )


def modern_grammar(text: str, rng: random.Random, rate: float) -> str:
    """The past perfect as the simple past ("she had joined" -> "she joined"), restrictive "which" as
    "that", "whom" as "who": what a modern draft writes for the same meaning."""
    from voiced.trainer.roughen_lexicon import inflect, readings

    def past(match: re.Match[str]) -> str:
        participle = match.group(2)
        reading = readings(participle).get("VERB")
        if (
            rng.random() >= rate
            or reading is None
            or not {"VBN", "VBD"} & set(reading[1])
            or reading[0] in ("be", "have")
        ):
            return match.group()
        simple = inflect(reading[0], "VBD")
        return f"{match.group(1)}{simple}" if simple else match.group()

    text = re.sub(r"\b(?:had|'d) ((?:[a-z]+ly |never |not |just |already |all )?)([a-z]{3,})\b", past, text)
    text = re.sub(
        r"(?<=[a-z] )which (?=(?:he|she|it|they|we|you|I|the|his|her|had|was|were|would|could)\b)",
        lambda m: "that " if rng.random() < rate else m.group(),
        text,
    )
    return re.sub(r"\bwhom\b", lambda m: "who" if rng.random() < rate else m.group(), text)


def swap_pairs(text: str, rng: random.Random, rate: float) -> str:
    """ "surprise and mortification" -> "mortification and surprise": two content words of one part of
    speech joined by "and" or "or" change places (meaning kept, order as another writer would put it)."""
    from voiced.trainer.roughen_lexicon import FUNCTION_WORDS, readings

    def repl(match: re.Match[str]) -> str:
        left, joiner, right = match.group(1), match.group(2), match.group(3)
        if rng.random() >= rate or left in FUNCTION_WORDS or right in FUNCTION_WORDS:
            return match.group()
        a, b = readings(left), readings(right)
        if not a.keys() & b.keys() & {"NOUN", "ADJ"}:
            return match.group()
        return f"{right} {joiner} {left}"

    return re.sub(r"(?<![\w'\u2019\-])([a-z]{3,}) (and|or) ([a-z]{3,})(?![\w'\u2019\-])", repl, text)


def drop_asides(text: str, rng: random.Random, rate: float) -> str:
    """Short asides between commas (", in fact,", ", however,") left out: the held-out family's habit."""

    def repl(match: re.Match[str]) -> str:
        inner = match.group(1)
        if rng.random() >= rate or any(ch.isupper() or ch.isdigit() for ch in inner) or _has_quote(inner):
            return match.group()
        return " "

    return re.sub(r",\s+([a-z][a-z ]{1,30}?),\s+", repl, text)


def drop_adverbs(text: str, rng: random.Random, rate: float) -> str:
    """Manner adverbs in -ly left out ("said Emma playfully" -> "said Emma"): the held-out family's habit."""
    keep = {
        "only",
        "early",
        "likely",
        "family",
        "daily",
        "lovely",
        "friendly",
        "ugly",
        "holy",
        "reply",
        "supply",
        "apply",
        "rely",
        "fly",
        "july",
        "silly",
        "lily",
        "belly",
        "jolly",
        "folly",
        "melancholy",
        "kindly",
        "lonely",
    }

    def repl(match: re.Match[str]) -> str:
        word = match.group(2)
        if word.lower() in keep or rng.random() >= rate:
            return match.group()
        return ""

    return re.sub(r"(\s)([a-z]{4,}ly)(?=[\s,.;!?])", repl, text)


def restructure(
    text: str, rng: random.Random, *, split_rate: float, merge_rate: float, reorder_rate: float, reverse: bool = False
) -> str:
    """Split long sentences, merge short ones and move subordinate clauses, each sentence at its own chance."""
    sentences = split_sentences(text)
    out = []
    for sentence in sentences:
        if rng.random() < split_rate:
            sentence = split_long(sentence, rng)
        if rng.random() < reorder_rate:
            sentence = back_to_front(sentence) if reverse else fronted_phrase_back(front_to_back(sentence))
        out.extend(split_sentences(sentence))
    if len(out) >= 2 and rng.random() < merge_rate:
        out = merge_short(out, rng)
    return " ".join(out)
