"""The writer's own verdict in the evaluation gate: do not replace an adapter they took to.

If the writer accepts the active adapter's proposals more often than they
accepted its predecessor's (both judged on at least
``gate_feedback_min_proposals`` proposals), the active adapter has shown it
serves them better than held-out figures alone can. A candidate the gate
would promote is then held back unless its held-out chrF gain beats the active
adapter's by at least ``gate_feedback_min_gain``. docs/evaluation.md
("The writer's acceptance") says why and how.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voiced.corpus.feedback import FeedbackSummary, feedback_summary
from voiced.errors import VoicedError
from voiced.paths import Paths

log = logging.getLogger("voiced.evaluation.feedback_gate")


def _label(version: int | None) -> str:
    return f"v{version}" if version is not None else "the base model"


@dataclass(frozen=True)
class FeedbackVerdict:
    """Whether the writer's acceptance holds a candidate back, and the figures it went by."""

    hold: bool
    applies: bool  # the writer accepts the active adapter more often than its predecessor
    reason: str
    active_version: int | None
    predecessor_version: int | None = None
    active_rate: float | None = None
    predecessor_rate: float | None = None
    active_shown: int = 0
    predecessor_shown: int = 0
    gain_difference: float | None = None
    min_gain: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            k: round(v, 4) if isinstance(v, float) else v for k, v in dataclasses.asdict(self).items() if k != "hold"
        } | {"hold": self.hold}


def decide_feedback(
    summaries: Sequence[FeedbackSummary],
    active_version: int | None,
    gain_difference: float | None,
    *,
    min_proposals: int,
    min_gain: float,
) -> FeedbackVerdict:
    """Decide from one voice's feedback summaries, the active version and the candidate's held-out chrF gain
    over the active adapter (None where the gate measured none).

    The predecessor is the latest version before the active one (the base model
    counting as the earliest) with at least ``min_proposals`` judged proposals."""
    by_version = {s.adapter_version: s for s in summaries}
    active = by_version.get(active_version)
    if active_version is None:
        return FeedbackVerdict(False, False, "the base model is active: no adapter to keep", None)
    if active is None or active.shown < min_proposals:
        shown = active.shown if active else 0
        why = f"{_label(active_version)} has {shown} judged proposals, fewer than {min_proposals}"
        return FeedbackVerdict(False, False, why, active_version, active_shown=shown)
    earlier = [
        s
        for s in summaries
        if (s.adapter_version is None or s.adapter_version < active_version) and s.shown >= min_proposals
    ]
    if not earlier:
        why = f"no version before {_label(active_version)} has {min_proposals} judged proposals to compare with"
        return FeedbackVerdict(False, False, why, active_version, active_rate=active.acceptance_rate)
    before = max(earlier, key=lambda s: -1 if s.adapter_version is None else s.adapter_version)

    def verdict(hold: bool, applies: bool, why: str) -> FeedbackVerdict:
        return FeedbackVerdict(
            hold,
            applies,
            why,
            active_version,
            predecessor_version=before.adapter_version,
            active_rate=active.acceptance_rate,
            predecessor_rate=before.acceptance_rate,
            active_shown=active.shown,
            predecessor_shown=before.shown,
            gain_difference=gain_difference,
            min_gain=min_gain,
        )

    rates = (
        f"you accepted {(active.acceptance_rate or 0):.0%} of {active.shown} proposals of {_label(active_version)} "
        f"against {(before.acceptance_rate or 0):.0%} of {before.shown} of {_label(before.adapter_version)}"
    )
    if (active.acceptance_rate or 0) <= (before.acceptance_rate or 0):
        return verdict(False, False, f"{rates}: no better, so it does not count")
    if gain_difference is None:
        why = f"{rates}, but the gate measured no held-out chrF gain to weigh against it (gate_mode is not voice)"
        return verdict(False, True, why)
    if gain_difference >= min_gain:
        why = f"{rates}, and the new voice beats it on held-out drafts by {gain_difference:+.1f} chrF gain"
        return verdict(False, True, why)
    why = (
        f"The new voice was held back: {rates}, and on held-out drafts it beats {_label(active_version)} by only "
        f"{gain_difference:+.1f} chrF gain (at least {min_gain:g} is needed to replace an adapter you take to)."
    )
    return verdict(True, True, why)


def hold_for_feedback(gate: Any, voice: str, settings: Any, paths: Paths) -> Any:
    """The trainer's GateResult, with the promotion withdrawn when the writer's acceptance holds it back.

    Reads the voice's feedback from the corpus database; a database that cannot
    be read leaves the gate's decision as it was (and says so in the log)."""
    if not gate.promote or gate.active_version is None:
        return gate
    try:
        summaries = feedback_summary(paths, voice)
    except VoicedError as exc:
        log.warning("the gate did not consult the writer's feedback: %s", exc)
        return gate
    verdict = decide_feedback(
        summaries,
        gate.active_version,
        (gate.voice or {}).get("gain_difference"),
        min_proposals=settings.gate_feedback_min_proposals,
        min_gain=settings.gate_feedback_min_gain,
    )
    if not verdict.applies:
        return gate
    voice_figures = {**(gate.voice or {}), "feedback": verdict.to_dict()}
    if verdict.hold:
        return dataclasses.replace(gate, promote=False, reason=verdict.reason, voice=voice_figures)
    return dataclasses.replace(gate, voice=voice_figures)
