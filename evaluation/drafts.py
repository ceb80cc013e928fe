"""The drafts `voiced eval` rewrites: the test split's originals roughened by a process training never used.

Scoring rewrites of the training roughener's drafts would reward an adapter
that learned to undo that roughener. Here every test original is drafted
again by the held-out roughening family (voiced.trainer.roughen.HELD_OUT_FAMILY,
which ``roughen`` refuses, so no training draft is made that way), paragraph
by paragraph; and, when ``[evaluation] draft_endpoint`` names a model server
on loopback, a model writes a second draft of each original.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HELD_OUT, ENDPOINT = "heldout", "endpoint"
LAST_RESORT = "fallback"  # the style roughen gives a draft no family could make


@dataclass(frozen=True)
class EvalPassage:
    rough: str  # the draft the model is asked to rewrite
    original: str  # the writer's own text
    source: str = HELD_OUT  # what made the draft: heldout | endpoint
    style: str = ""  # the roughening family's label ("heldout+structure")


def held_out_draft(text: str, seed: int, profile: Any = None) -> tuple[str, str]:
    """(draft, style) of one paragraph by the held-out family: the one place the eval's drafts come from."""
    from voiced.trainer.roughen import held_out_draft as roughen_held_out

    draft = roughen_held_out(text, seed, profile)
    return draft.text, draft.style


def draft_paragraphs(original: str, seed: int, profile: Any = None) -> tuple[str, str]:
    """Each paragraph of ``original`` drafted on its own (a draft keeps the paragraph breaks)."""
    drafted = [held_out_draft(part, seed, profile) for part in original.split("\n\n") if part.strip()]
    styles = sorted({style for _, style in drafted})
    return "\n\n".join(text for text, _ in drafted), "+".join(styles)


def signature_profile(train_texts: Iterable[str]) -> Any:
    """The writer's signature words (train split only), which the drafts take away as training's do."""
    from voiced.trainer.roughen_signature import writer_profile

    return writer_profile(train_texts)


def held_out_passages(
    originals: Iterable[str], seed: int, profile: Any = None, n: int | None = None
) -> tuple[list[EvalPassage], int]:
    """The first ``n`` originals the held-out family can draft, and how many it could not.

    A paragraph it cannot change gets roughen's last resort ("So, basically, ..."), which training
    drafts share; such a passage is skipped rather than scored on a draft that is not held out."""
    passages: list[EvalPassage] = []
    skipped = 0
    for original in originals:
        if n is not None and len(passages) >= n:
            break
        draft, style = draft_paragraphs(original, seed, profile)
        if LAST_RESORT in style.split("+"):
            skipped += 1
            continue
        passages.append(EvalPassage(draft, original, HELD_OUT, style))
    return passages, skipped


def endpoint_passages(originals: list[str], settings: Any, seed: int) -> tuple[list[EvalPassage], list[str]]:
    """Model-written drafts from ``settings.draft_endpoint`` (loopback only); (passages, notes).

    A reply that lost a name or a number, or changed nothing, is left out; the
    first failure of the server ends this source for the run, with a note."""
    from voiced.trainer.rough_endpoint import EndpointError, check_loopback, request_draft
    from voiced.trainer.roughen import keeps_names_and_numbers

    if not settings.draft_endpoint:
        return [], []
    try:
        url = check_loopback(settings.draft_endpoint)
    except EndpointError as exc:
        return [], [f"model-written drafts skipped: {exc}"]
    passages: list[EvalPassage] = []
    left_out = 0
    for index, original in enumerate(originals):
        try:
            draft = request_draft(url, settings.draft_model, original, seed + index, settings.draft_timeout_seconds)
        except EndpointError as exc:
            return passages, [f"model-written drafts stopped after {len(passages)}: {exc}"]
        if draft and " ".join(draft.split()) != " ".join(original.split()) and keeps_names_and_numbers(original, draft):
            passages.append(EvalPassage(draft, original, ENDPOINT, "endpoint"))
        else:
            left_out += 1
    notes = (
        [f"{left_out} model-written drafts lost a name or a number or changed nothing and were left out"]
        if left_out
        else []
    )
    return passages, notes
