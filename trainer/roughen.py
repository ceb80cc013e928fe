"""Offline rough drafts: the writer's text made plainer, wordier or looser.

Rewrite examples teach "rough draft -> the writer's original", so the drafts
must look like what a user will actually select: assistant-flavoured prose,
padded co-author prose or a hasty first draft. No teacher model is needed;
every style is a deterministic function of the text and a seed. Names and
numbers (capitalised words not at a sentence start, anything with a digit)
are never touched, so the model learns the voice rather than invention.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

STYLES = ("generic", "verbose", "loose")

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*|\d+(?:[,.:/-]\d+)*")

# Distinctive or literary words and the plain words a generic assistant would use.
PLAIN_WORDS = {
    "exceedingly": "very", "extremely": "very", "amiable": "nice", "agreeable": "pleasant",
    "countenance": "face", "felicity": "happiness", "endeavour": "try", "endeavor": "try",
    "endeavoured": "tried", "acquaintance": "friend", "sensible": "aware", "civility": "politeness",
    "vexed": "annoyed", "vexation": "annoyance", "perceive": "see", "perceived": "saw",
    "beheld": "saw", "desirous": "eager", "solicitude": "concern", "esteem": "respect",
    "whilst": "while", "amongst": "among", "upon": "on", "shall": "will", "ere": "before",
    "scarcely": "barely", "wholly": "fully", "sentiments": "feelings", "sentiment": "feeling",
    "manner": "way", "indeed": "really", "attachment": "affection", "intercourse": "contact",
    "compassion": "sympathy", "intimacy": "closeness", "composure": "calm", "felt": "had",
    "dreadful": "terrible", "tolerably": "fairly", "commence": "start", "commenced": "started",
    "inquire": "ask", "inquired": "asked", "enquired": "asked", "replied": "said",
    "cried": "said", "exclaimed": "said", "observed": "said", "mortification": "embarrassment",
    "entreat": "ask", "entreated": "begged", "shew": "show", "shewed": "showed", "whither": "where",
    "therefore": "so", "however": "but", "nevertheless": "still", "nothing": "nothing at all",
    "utmost": "greatest", "melancholy": "sad", "prodigious": "huge", "engaged": "busy",
}
HEDGES = re.compile(r"(,\s*)?\b(?:perhaps|rather|somewhat|quite|almost|certainly|indeed|surely|I think|I believe)\b(\s*,)?")
STOCK_OPENERS = ("In essence, ", "It is worth noting that ", "Overall, ", "Importantly, ", "In this context, ")
STOCK_CLOSERS = (" This highlights the importance of the moment.", " This shows how much was at stake.",
                 " Ultimately, this matters.")
FILLERS = ("really", "basically", "actually", "honestly", "truly", "definitely", "clearly")
# Fillers go after these, where an adverb reads naturally ("was really anxious").
_AUXILIARIES = {"was", "were", "is", "are", "had", "has", "have", "be", "been", "would", "could", "should",
                "will", "did", "do", "does", "might", "must"}
REDUNDANT_CLAUSES = (", which is to say, in other words,", ", as it were, in a manner of speaking,",
                     ", and this is important to note,", ", if you think about it,")
CONTRACTIONS = {
    "do not": "don't", "does not": "doesn't", "did not": "didn't", "is not": "isn't", "was not": "wasn't",
    "were not": "weren't", "have not": "haven't", "had not": "hadn't", "would not": "wouldn't",
    "could not": "couldn't", "should not": "shouldn't", "cannot": "can't", "will not": "won't",
    "it is": "it's", "that is": "that's", "there is": "there's", "I am": "I'm", "you are": "you're",
    "they are": "they're", "we are": "we're", "he is": "he's", "she is": "she's", "I have": "I've",
    "I would": "I'd", "I will": "I'll", "let us": "let's",
}
CASUAL_WORDS = {"very": "super", "however": "but", "therefore": "so", "although": "though",
                "perhaps": "maybe", "immediately": "right away", "extremely": "really",
                "certainly": "sure", "gentleman": "guy", "gentlemen": "guys", "young": "young",
                "received": "got", "obtained": "got", "wished": "wanted", "believe": "think"}
# Sentence-initial words that may be lowercased when two sentences are merged.
_FUNCTION_WORDS = {"The", "It", "He", "She", "They", "We", "You", "This", "That", "There", "But",
                   "And", "So", "His", "Her", "Their", "A", "An", "In", "On", "At", "As", "If",
                   "When", "What", "Nothing", "Such", "Yet", "Then", "Now", "One", "No"}


@dataclass(frozen=True)
class RoughDraft:
    text: str
    style: str          # generic, verbose, loose (+ "+structure" when sentences were moved)
    source: str = "offline"   # offline or endpoint


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


def _case_like(replacement: str, word: str) -> str:
    return replacement[0].upper() + replacement[1:] if word[0].isupper() else replacement


def _swap_words(text: str, table: dict[str, str], rng: random.Random, rate: float) -> str:
    """Replace lowercase occurrences of table words (capitalised ones may be names)."""
    def repl(match: re.Match[str]) -> str:
        word = match.group()
        if word in table and rng.random() < rate:
            return table[word]
        return word
    return re.sub(r"\b[a-z]+\b", repl, text)


def _replace_phrases(text: str, table: dict[str, str], rng: random.Random, rate: float) -> str:
    for phrase, short in table.items():
        pattern = re.compile(rf"\b{re.escape(phrase)}\b")
        text = pattern.sub(lambda m: short if rng.random() < rate else m.group(), text)
    return text


def _generic(text: str, rng: random.Random) -> str:
    text = re.sub(r" {2,}", " ", HEDGES.sub("", text))
    text = _swap_words(text, PLAIN_WORDS, rng, 0.8)
    text = re.sub(r"\s*;\s*", ". ", text)
    text = re.sub(r"\.\s+([a-z])", lambda m: ". " + m.group(1).upper(), text)
    if rng.random() < 0.6:
        opener = rng.choice(STOCK_OPENERS)
        first = text.split(" ", 1)[0]
        head = first[0].lower() + first[1:] if first in _FUNCTION_WORDS else first
        text = opener + head + text[len(first):]
    if rng.random() < 0.4:
        text = text.rstrip() + rng.choice(STOCK_CLOSERS)
    return text


def _verbose(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    out: list[str] = []
    for i, word in enumerate(words):
        out.append(word)
        if i < len(words) - 1 and word in _AUXILIARIES and words[i + 1].isalpha() and rng.random() < 0.4:
            out.append(rng.choice(FILLERS))
        if word.endswith(",") and not word[:-1][-1:].isdigit() and rng.random() < 0.25:
            out[-1] = word[:-1] + rng.choice(REDUNDANT_CLAUSES)
    text = " ".join(out)
    text = re.sub(r"\bto (?=[a-z]+ )", lambda m: "in order to " if rng.random() < 0.3 else m.group(), text)
    if rng.random() < 0.5:
        text = "To be honest, I think that " + (text[0].lower() + text[1:] if text.split(" ", 1)[0] in _FUNCTION_WORDS else text)
    return text


def _loose(text: str, rng: random.Random) -> str:
    text = _replace_phrases(text, CONTRACTIONS, rng, 0.9)
    text = _swap_words(text, CASUAL_WORDS, rng, 0.7)
    text = re.sub(r"\s*[;:\u2014]\s*|\s+--\s+", lambda m: ". " if rng.random() < 0.6 else " ", text)
    text = re.sub(r", and ", lambda m: ". And " if rng.random() < 0.5 else " and ", text)
    text = re.sub(r"(?<!\d),(?!\d)", lambda m: "" if rng.random() < 0.5 else ",", text)
    text = re.sub(r"\. ([a-z])", lambda m: ". " + m.group(1).upper(), text)
    return re.sub(r"\s{2,}", " ", text)


def _restructure(text: str, rng: random.Random) -> str:
    """Split, merge or reorder sentences, moving words but never changing them."""
    sentences = split_sentences(text)
    if len(sentences) >= 2 and rng.random() < 0.4:
        i = rng.randrange(len(sentences) - 1)
        sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
    elif len(sentences) >= 2 and rng.random() < 0.5:
        i = rng.randrange(len(sentences) - 1)
        left, right = sentences[i].rstrip(), sentences[i + 1]
        first = right.split(" ", 1)[0]
        if first in _FUNCTION_WORDS:
            right = first.lower() + right[len(first):]
        sentences[i:i + 2] = [left.rstrip(".!?") + ", and " + right]
    else:
        for i, sentence in enumerate(sentences):
            cut = sentence.find(", ", len(sentence) // 3)
            if cut > 0 and not sentence[cut - 1].isdigit():
                rest = sentence[cut + 2:]
                if rest:
                    sentences[i] = sentence[:cut] + ". " + rest[0].upper() + rest[1:]
                    break
    return " ".join(sentences)


_STYLE_FUNCS = {"generic": _generic, "verbose": _verbose, "loose": _loose}


def _attempt(text: str, style: str, rng: random.Random, structural_noise: float) -> RoughDraft:
    rough, label = _STYLE_FUNCS[style](text, rng), style
    if rng.random() < structural_noise:
        rough, label = _restructure(rough, rng), style + "+structure"
    return RoughDraft(re.sub(r"\s{2,}", " ", rough).strip(), label)


def roughen(text: str, seed: int, style: str | None = None, structural_noise: float = 0.5) -> RoughDraft:
    """A deterministic rough draft of ``text`` that differs from it and keeps its names and numbers.

    The chosen style is tried first, then the others; a draft that lost a name
    or a number, or changed nothing, is discarded.
    """
    rng = random.Random(f"{seed}:{text}")
    first = style or rng.choice(STYLES)
    if first not in _STYLE_FUNCS:
        raise ValueError(f"Unknown roughening style {first!r}; use one of {', '.join(STYLES)}.")
    original = text.strip()
    for candidate in (first, *(s for s in STYLES if s != first)):
        draft = _attempt(text, candidate, rng, structural_noise)
        if draft.text != original and keeps_names_and_numbers(text, draft.text):
            return draft
    restructured = _restructure(text, rng)
    if restructured != original and keeps_names_and_numbers(text, restructured):
        return RoughDraft(restructured, "structure")
    return RoughDraft("So, basically, " + original, "fallback")
