"""Whether a rewrite keeps the writer's meaning: chrF, ROUGE-L and the names and numbers it kept."""

from __future__ import annotations

import re

TOKEN = re.compile(r"\w+(?:['’]\w+)*")


def chrf(hypothesis: str, reference: str) -> float:
    """Character n-gram F-score (sacrebleu's chrF, 0-100)."""
    import sacrebleu

    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence, one row of the table at a time."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1 on lower-cased word tokens (0-1)."""
    hyp, ref = TOKEN.findall(hypothesis.lower()), TOKEN.findall(reference.lower())
    if not hyp or not ref:
        return 0.0
    common = lcs_length(hyp, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(hyp), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def names_and_numbers(text: str) -> set[str]:
    """Numbers, and words written capitalised other than at a sentence's start: the rewrite guard's
    definition (voiced.inference.rewrite_guard), so the figure counts what the guard protects. A word
    that only opens sentences ("It", "But"), however often, is no name: a rewrite may change it."""
    from voiced.inference.rewrite_guard import names_and_numbers as guarded_names

    return guarded_names(text)


def kept_share(hypothesis: str, reference: str) -> float | None:
    """Share of the reference's names and numbers that appear in the hypothesis; None when it has none."""
    wanted = names_and_numbers(reference)
    if not wanted:
        return None
    return sum(1 for item in wanted if item in hypothesis) / len(wanted)
