"""How far the rough drafts are from the writer's text: word-level similarity per family, names kept.

Word-level similarity is difflib's ratio over the whitespace-separated tokens
of draft and original (2 x matched tokens / all tokens; 1.0 = a copy), the
measure issue 18 used: a token with other punctuation ("it;" against "it.")
differs, as a writer's punctuation habits do. A model trained on drafts at 0.9
learns a light copy-edit; far below 0.6 a rule-made draft has had to drop or
reorder content. docs/drafts.md gives the target and why.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from difflib import SequenceMatcher

from voiced.trainer.roughen import keeps_names_and_numbers, protected_tokens

TARGET_MEDIAN = (0.65, 0.82)
MAX_NEAR_COPIES = 0.15  # at most this share of drafts at 0.9 or more (issue 18 found 58%)


def word_similarity(draft: str, original: str) -> float:
    """difflib ratio of the two texts' whitespace-separated token sequences."""
    a, b = draft.split(), original.split()
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def names_kept(draft: str, original: str) -> tuple[int, int]:
    """(protected tokens of the original found in the draft, protected tokens of the original)."""
    tokens = protected_tokens(original)
    present = set(re.findall(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*|\d+(?:[,.:/-]\d+)*", draft))
    return sum(t in present for t in tokens), len(tokens)


def _quartiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"drafts": 0}
    if len(values) == 1:
        q1 = median = q3 = values[0]
    else:
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {
        "drafts": len(values),
        "median": round(median, 3),
        "q1": round(q1, 3),
        "q3": round(q3, 3),
        "share_at_least_0.9": round(sum(v >= 0.9 for v in values) / len(values), 3),
    }


def draft_statistics(pairs: Iterable[tuple[str, str, str]]) -> dict:
    """Similarity distribution over (family, draft, original) triples, overall and per family, and names kept.

    The family is the label's first part ("loose+structure" counts as loose).
    """
    by_family: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    kept = total = drafts_all_kept = drafts = 0
    for family, draft, original in pairs:
        similarity = word_similarity(draft, original)
        by_family[family.split("+")[0] or "unknown"].append(similarity)
        every.append(similarity)
        k, n = names_kept(draft, original)
        kept, total = kept + k, total + n
        drafts += 1
        drafts_all_kept += keeps_names_and_numbers(original, draft)
    overall = _quartiles(every)
    low, high = TARGET_MEDIAN
    return {
        **overall,
        "target_median": list(TARGET_MEDIAN),
        "max_near_copies": MAX_NEAR_COPIES,
        "within_target": (
            bool(every) and low <= overall["median"] <= high and overall["share_at_least_0.9"] <= MAX_NEAR_COPIES
        ),
        "families": {name: _quartiles(values) for name, values in sorted(by_family.items())},
        "names_and_numbers_kept": round(kept / total, 4) if total else 1.0,
        "drafts_keeping_all_names": round(drafts_all_kept / drafts, 4) if drafts else 1.0,
    }


def describe(stats: dict) -> list[str]:
    """Readable lines for the CLI: the overall distribution against the target, then each family."""
    if not stats.get("drafts"):
        return ["drafts: none (no rewrite examples)"]
    low, high = stats["target_median"]
    verdict = "within" if stats["within_target"] else "OUTSIDE"
    lines = [
        f"draft similarity to the original (word level): median {stats['median']:.2f} "
        f"(quartiles {stats['q1']:.2f}-{stats['q3']:.2f}, {stats['share_at_least_0.9']:.0%} at 0.9 or more; "
        f"target median {low:.2f}-{high:.2f} with at most {stats['max_near_copies']:.0%} at 0.9: {verdict}); "
        f"names and numbers kept {stats['names_and_numbers_kept']:.1%}"
    ]
    for name, fam in stats["families"].items():
        lines.append(
            f"  {name}: {fam['drafts']} drafts, median {fam['median']:.2f} "
            f"(quartiles {fam['q1']:.2f}-{fam['q3']:.2f}), {fam['share_at_least_0.9']:.0%} at 0.9 or more"
        )
    return lines
