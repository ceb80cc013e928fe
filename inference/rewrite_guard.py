"""Only a rewrite comes back: one paragraph's rewrite judged against its draft before it is inserted.

A small model asked to rewrite sometimes answers about the text instead
("I'll make that sound even more vivid. The text is written in my voice..."),
labels its answer ("Here is the rewrite:"), or drops or invents whole
clauses. :func:`judge` cuts what can be cut (a leading label, wrapping
quotes, meta sentences before or after the rewrite) and rejects the rest with
a reason a writer understands; :func:`guarded` runs a generation, retries a
rejected one once with another seed and, if it is still rejected, gives back
the draft unchanged and reports why. Pure: no model, no I/O (the generation
is a callable); the limits come from ``[inference]`` in voiced.config.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

OK, CLEANED, UNCHANGED, REJECTED = "ok", "cleaned", "unchanged", "rejected"

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+(?:[.,:]\d+)*")
_SENTENCE = re.compile(r"[^.!?:\n]*(?:[.!?:]+[\"'”’)\]]*|\n+|$)")
# What an assistant says about its work: the task's nouns. A sentence naming one the draft does not use
# is about the text, not part of it ("The text is written in my voice", "This version keeps...").
_TASK_WORDS = re.compile(
    r"\b(?:text|passage|paragraph|rewrite|rewrites|rewritten|rewriting|rephras\w*|reword\w*|revised|revision|version|"
    r"(?:my|your|writing|same) voice|(?:the|its|a) (?:tone|style|original)|draft|wording|sentences?|narrative|"
    r"prose|excerpt|author|writer|narrator|speaker|imagery|summary|summari[sz]ed?|"
    r"(?:a|the) character's|classic example|emphasi[sz]es|highlights|illustrates|conveys|portrays)\b",
    re.I,
)
# Formulas of an assistant's turn (unless the draft says them too).
_FORMULA = re.compile(
    r"^\W*(?:sure|certainly|of course|absolutely|okay|great question)(?:!|\.|,?\s+(?:here|i['’]ll|i can|let me))|"
    r"\b(?:i'm|i’m|i am) (?:so |very )?sorry\b|\bapologi[sz]e\b|\bfor (?:the|any) confusion\b|"
    r"\bhere(?:'s|’s| is| are)\b.{0,60}\b(?:rewrite|rewritten|version|text|revision|take)\b|"
    r"\b(?:i hope (?:this|that|you)|let me know|feel free|happy to help|i'd be (?:happy|glad)|"
    r"as an ai|in my voice|in your voice)\b",
    re.I,
)
# A first-person offer about the work ("I'll make that...", "I have rewritten...").
_OFFER = re.compile(
    r"\b(?:I(?:'ll|’ll| will| can|'ve|’ve| have| would|'d|’d)|let me)\s+(?:\w+\s+)?"
    r"(?:rewrite|rewritten|revise|revised|edit|edited|polish|polished|improve|improved|"
    r"make (?:it|this|that) (?:sound|read|flow|more|less|clearer))\b",
    re.I,
)
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][a-zA-Z'’-]*")
_PRONOUN_I = re.compile(r"I(?:['’](?:m|ll|d|ve))?")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_LABEL_MARKUP = re.compile(r"^[\s*_#>`]+|[\s*_`]+$")
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’"}


@dataclass(frozen=True)
class GuardLimits:
    """Where a rewrite stops being one; the defaults and their reasons are in voiced.config ([inference])."""

    min_length_ratio: float
    max_length_ratio: float
    min_content_kept: float
    min_names_kept: float
    max_dropped_words: int

    @classmethod
    def from_settings(cls, settings: Any) -> GuardLimits:
        return cls(
            settings.guard_min_length_ratio,
            settings.guard_max_length_ratio,
            settings.guard_min_content_kept,
            settings.guard_min_names_kept,
            settings.guard_max_dropped_words,
        )


@dataclass(frozen=True)
class Verdict:
    """``text`` is what may be inserted (the cleaned rewrite; the draft when rejected or unchanged)."""

    outcome: str  # ok | cleaned | unchanged | rejected
    text: str
    code: str = ""  # label, commentary, too_short, too_long, content_dropped, clause_dropped, names_dropped, empty
    reason: str = ""  # for the writer: what was wrong, in words

    @property
    def accepted(self) -> bool:
        return self.outcome != REJECTED


@dataclass(frozen=True)
class GuardReport:
    """What the guard did to one paragraph (1-based, counting prose paragraphs and their pieces)."""

    paragraph: int
    outcome: str
    code: str
    reason: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def _stem(word: str) -> str:
    """Enough of a word to match its inflections ("walked", "walking", "walks" -> "walk")."""
    word = word.lower().replace("’", "'")
    for suffix in ("'s", "ing", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stems of the words that carry meaning: four letters or more (most function words are shorter), and numbers."""
    return {_stem(w) for w in words(text) if len(w) >= 4 or w[0].isdigit()}


def content_kept(draft: str, rewrite: str) -> float | None:
    """Share of the draft's content words found in the rewrite; None when the draft has too few to tell."""
    wanted = content_words(draft)
    if len(wanted) < 3:
        return None
    return len(wanted & content_words(rewrite)) / len(wanted)


def longest_dropped_run(draft: str, rewrite: str) -> tuple[int, str]:
    """The most draft words one gap of the rewrite left out with nothing in their place, and that gap's words.

    Aligned word by word (difflib, case-folded). A replaced span counts only the words it is short by, so a
    synonym or a rephrased phrase of the same length counts nothing, and words of the gap that the rewrite
    has elsewhere among its own words (a clause moved to the front) do not count as left out.
    """
    draft_words = words(draft)
    draft_folded, rewrite_folded = [w.lower() for w in draft_words], [w.lower() for w in words(rewrite)]
    matcher = SequenceMatcher(None, draft_folded, rewrite_folded, autojunk=False)
    gaps = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    elsewhere = Counter(word for _, _, _, j1, j2 in gaps for word in rewrite_folded[j1:j2])
    longest, span = 0, ""
    for tag, i1, i2, j1, j2 in gaps:
        if tag == "insert":
            continue
        moved = 0
        for word in draft_folded[i1:i2]:
            if elsewhere[word] > 0:
                elsewhere[word] -= 1
                moved += 1
        dropped = (i2 - i1) - max(j2 - j1, moved)
        if dropped > longest:
            longest, span = dropped, " ".join(draft_words[i1:i2])
    return longest, span


def names_and_numbers(text: str) -> set[str]:
    """Numbers, and words written capitalised somewhere other than at a sentence's start (names).

    Stricter than the evaluation's stand-in (voiced.evaluation.meaning): a word that only opens
    sentences, even twice, or "I'm" is no name, so a rewrite is never rejected for dropping one."""
    names = set()
    for match in _CAPITALISED.finditer(text):
        before = text[max(0, match.start() - 8) : match.start()]
        opens = before.rstrip(" \t\n").endswith(tuple("\"'“‘(["))  # a quotation opens its own sentence
        before = before.rstrip(" \t\n\"'“‘”’([")
        if before and before[-1] not in ".!?…:;—" and not opens and not _PRONOUN_I.fullmatch(match.group(0)):
            names.add(match.group(0).rstrip("'’"))
    return names | set(_NUMBER.findall(text))


def names_kept(draft: str, rewrite: str) -> tuple[float | None, list[str]]:
    """Share of the draft's names and numbers kept, and the ones missing."""
    wanted = sorted(names_and_numbers(draft))
    if not wanted:
        return None, []
    missing = [item for item in wanted if item not in rewrite]
    return 1 - len(missing) / len(wanted), missing


def is_meta(sentence: str, draft: str) -> bool:
    """Does ``sentence`` talk about the text or the task rather than tell the draft's content?

    Each sign counts only where the draft does not have it too: a narrator may say "I will try",
    a heroine's voice may tremble."""
    lowered = draft.lower().replace("’", "'")
    return any(
        match.group(0).lower().replace("’", "'").strip(" \t\"'“‘") not in lowered
        for pattern in (_FORMULA, _TASK_WORDS, _OFFER)
        for match in pattern.finditer(sentence)
    )


def _sentences(text: str) -> list[str]:
    """Sentences (and phrases ending in a colon, and lines) with what follows them up to the next one;
    joined they give ``text``."""
    parts: list[str] = []
    for part in _SENTENCE.findall(text):
        if parts and not part.strip():
            parts[-1] += part  # the line break after a sentence belongs to it
        elif part:
            parts.append(part)
    return parts


def _is_label(part: str) -> bool:
    """A phrase ending in a colon and a line break ("Rewrite:\n", "Instead, I reworded it to:\n\n"):
    a paragraph of prose does not break its line after a colon, an answer introducing its text does."""
    body = part.rstrip(" \t")
    return "\n" in body and body.rstrip().endswith(":")


def _introduces_quote(first: str, rest: str, draft: str) -> bool:
    """An opening phrase of its own ending in a colon before a quotation ("The words of the speaker are:")."""
    head = first.strip()
    return head.endswith(":") and rest.lstrip()[:1] in "\"'“‘" and head.rstrip(":").lower() not in draft.lower()


def _unwrap(draft: str, text: str) -> str:
    """``text`` without markup around it ("**", "#") or quotes wrapping it whole, unless the draft has them."""
    text = _LABEL_MARKUP.sub("", text).strip() if not _LABEL_MARKUP.match(draft) else text.strip()
    if (
        len(text) > 2 and _QUOTES.get(text[0]) == text[-1] and draft[:1] not in "\"'“‘" and text[0] not in text[1:-1]
    ):  # a quoted paragraph (dialogue) keeps its quotes
        text = text[1:-1].strip()
    return text


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def judge(draft: str, rewrite: str, limits: GuardLimits, *, check_length: bool = True) -> Verdict:
    """Is ``rewrite`` a rewrite of ``draft``? ``check_length=False`` when the caller capped the output's
    tokens, so a short or partial rewrite is what was asked for (commentary is still caught)."""
    draft, raw = draft.strip(), rewrite.strip()
    if not raw:
        return Verdict(REJECTED, draft, "empty", "the model gave back nothing")
    if " ".join(raw.split()) == " ".join(draft.split()):
        return Verdict(UNCHANGED, draft, "unchanged", "the model gave the paragraph back as it was")
    text, cleaned = raw, False
    parts = _sentences(raw)
    meta = [_is_label(part) or is_meta(part, draft) for part in parts]
    if len(parts) > 1 and _introduces_quote(parts[0], parts[1], draft):
        meta[0] = True
    said = next((part for part, flag in zip(parts, meta, strict=False) if flag), None)
    commentary = Verdict(
        REJECTED,
        draft,
        "commentary",
        f'the model commented on the text instead of rewriting it ("{_snippet(said or "")}")',
    )
    if said is not None:
        first = meta.index(False) if False in meta else len(meta)
        last = len(meta) - meta[::-1].index(False) if False in meta else first
        if first == len(meta) or any(meta[first:last]):
            return commentary
        text, cleaned = "".join(parts[first:last]).strip(), True
    unwrapped = _unwrap(draft, text)
    text, cleaned = unwrapped, cleaned or unwrapped != text
    verdict = _measure(draft, text, limits, check_length)
    if verdict is not None:  # what is left around a remark is no rewrite either; around a label it says why
        talk = any(
            flag and not _LABEL_MARKUP.sub("", part).rstrip().endswith(":")
            for part, flag in zip(parts, meta, strict=False)
        )
        return commentary if talk else verdict
    if " ".join(text.split()) == " ".join(draft.split()):
        return Verdict(UNCHANGED, draft, "unchanged", "the model gave the paragraph back as it was")
    return (
        Verdict(CLEANED, text, "label", "a label or remark around the rewrite was removed")
        if cleaned
        else Verdict(OK, text)
    )


def _measure(draft: str, text: str, limits: GuardLimits, check_length: bool) -> Verdict | None:
    """A rejection for length or content drift, or None when the rewrite keeps to the draft."""
    have, want = len(words(text)), len(words(draft))
    lines = len([line for line in text.splitlines() if line.strip()])
    if lines > len(draft.splitlines()) + 1:
        return Verdict(REJECTED, draft, "lines", f"the rewrite broke the paragraph into {lines} separate lines")
    if check_length and want:
        # Two words of slack, so a short paragraph is not judged by a ratio of small numbers.
        if have < limits.min_length_ratio * want - 2:
            return Verdict(
                REJECTED,
                draft,
                "too_short",
                f"the rewrite was much shorter than the paragraph ({have} words for {want}): it left part of it out",
            )
        if have > limits.max_length_ratio * want + 2:
            return Verdict(
                REJECTED,
                draft,
                "too_long",
                f"the rewrite was much longer than the paragraph ({have} words for {want}): it added text of its own",
            )
    if not check_length:
        return None
    kept = content_kept(draft, text)
    if kept is not None and kept < limits.min_content_kept:
        return Verdict(
            REJECTED,
            draft,
            "content_dropped",
            f"the rewrite kept only {kept:.0%} of the paragraph's meaningful words: it drifted from what it says",
        )
    share, missing = names_kept(draft, text)
    if share is not None and share < limits.min_names_kept:
        return Verdict(
            REJECTED,
            draft,
            "names_dropped",
            "the rewrite lost names or numbers of the paragraph (" + ", ".join(missing[:4]) + ")",
        )
    if limits.max_dropped_words:
        dropped, span = longest_dropped_run(draft, text)
        if dropped > limits.max_dropped_words:
            return Verdict(
                REJECTED,
                draft,
                "clause_dropped",
                f"the rewrite left out {dropped} words of the paragraph in a row ({_snippet(span)})",
            )
    return None


Attempt = Callable[[Any], Iterable[str]]


def guarded(
    draft: str,
    attempt: Attempt,
    params: Any,
    limits: GuardLimits,
    *,
    paragraph: int,
    retries: int,
    retry_temperature: float,
    stop: threading.Event,
    report: Callable[[GuardReport], None] | None = None,
    check_length: bool = True,
) -> Iterator[str]:
    """The rewrite of ``draft`` once judged: ``attempt(params)`` generates it (its pieces are held until
    then), a rejected one is tried again ``retries`` times with another seed (at least
    ``retry_temperature`` warm, so greedy decoding does not repeat itself), and when every try is
    rejected the draft itself comes back. Anything but a first-time ``ok`` is reported."""
    first_reason: Verdict | None = None
    for tries in range(1, retries + 2):
        out = "".join(attempt(params))
        if stop.is_set():
            return  # cancelled: nothing is judged, nothing is yielded
        verdict = judge(draft, out, limits, check_length=check_length)
        if verdict.accepted:
            break
        first_reason = first_reason or verdict
        params = dataclasses.replace(
            params, seed=_next_seed(params.seed, tries), temperature=max(params.temperature, retry_temperature)
        )
    if report is not None and (verdict.outcome != OK or tries > 1):
        shown = verdict if verdict.outcome != OK or first_reason is None else first_reason
        report(GuardReport(paragraph, verdict.outcome, shown.code, shown.reason, tries))
    yield verdict.text


def _next_seed(seed: int, tries: int) -> int:
    return -1 if seed is None or seed < 0 else seed + 7919 * tries


def describe(reports: Iterable[dict[str, Any]]) -> str | None:
    """One message for the writer about the paragraphs left as they were (and those the model gave back
    unchanged); None when there is nothing to say. ``reports`` are GuardReport dicts, as the API sends them."""
    seen: set[tuple[int, str]] = set()
    once = []  # a long paragraph rewritten in pieces is named once
    for report in reports:
        if (report["paragraph"], report["outcome"]) not in seen:
            seen.add((report["paragraph"], report["outcome"]))
            once.append(report)
    left = [r for r in once if r["outcome"] == REJECTED]
    same = [r["paragraph"] for r in once if r["outcome"] == UNCHANGED]
    parts = []
    if left:
        which = _numbers([r["paragraph"] for r in left])
        verb = "was" if len(left) == 1 else "were"
        why = "; ".join(r["reason"] if len(left) == 1 else f"{r['paragraph']}: {r['reason']}" for r in left)
        parts.append(
            f"{which} {verb} left as {'it was' if len(left) == 1 else 'they were'}, "
            f"because {why}. Try again, or rewrite {'it' if len(left) == 1 else 'them'} by hand"
        )
    if same:
        parts.append(f"{_numbers(same)} came back unchanged")
    return ". ".join(part[0].upper() + part[1:] for part in parts) + "." if parts else None


def _numbers(paragraphs: list[int]) -> str:
    if len(paragraphs) == 1:
        return f"paragraph {paragraphs[0]}"
    return "paragraphs " + ", ".join(map(str, paragraphs[:-1])) + f" and {paragraphs[-1]}"
