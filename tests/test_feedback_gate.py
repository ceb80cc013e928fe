"""The writer's acceptance in the evaluation gate: the pure decision, the gate result it changes, and
two real training jobs where it holds the second back.

The summaries come from real records in the test's corpus database.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from job_support import make_voice

from voiced.config import EvalSettings
from voiced.corpus.feedback import FeedbackRecord, feedback_summary, record_feedback
from voiced.daemon.training_job import run_training_job
from voiced.evaluation.feedback_gate import decide_feedback, hold_for_feedback
from voiced.paths import get_paths
from voiced.registry import MANIFEST, Registry
from voiced.trainer.gate import GateResult

_ids = itertools.count()


def judged(version: int | None, accepted: int, rejected: int, voice: str = "austen") -> None:
    """Record ``accepted`` kept and ``rejected`` rejected rewrites of ``version``."""
    for outcome in ["kept"] * accepted + ["rejected"] * rejected:
        record_feedback(
            get_paths(),
            FeedbackRecord(f"p{next(_ids)}", voice, version, "rewrite", outcome, "draft", "proposal", None, 1.0, 2.0),
        )


def decide(gain: float | None, active: int | None = 2, min_proposals: int = 20) -> tuple[bool, bool, str]:
    verdict = decide_feedback(
        feedback_summary(get_paths(), "austen"), active, gain, min_proposals=min_proposals, min_gain=2.0
    )
    return verdict.hold, verdict.applies, verdict.reason


def test_an_adapter_the_writer_takes_to_is_kept_without_a_clear_gain() -> None:
    judged(1, accepted=8, rejected=12)  # 40%
    judged(2, accepted=15, rejected=5)  # 75%
    hold, applies, reason = decide(gain=1.5)
    assert hold and applies
    assert "75% of 20 proposals of v2 against 40% of 20 of v1" in reason and "+1.5" in reason
    assert decide(gain=2.0)[:2] == (False, True)  # clearly better held-out: promoted
    assert decide(gain=None)[:2] == (False, True)  # no chrF measured (gate_mode nll): not held


def test_too_few_judged_proposals_or_no_better_rate_do_not_count() -> None:
    judged(1, accepted=8, rejected=12)
    judged(2, accepted=15, rejected=4)  # 19 judged
    assert decide(gain=0.0)[:2] == (False, False)
    judged(2, accepted=0, rejected=1)
    assert decide(gain=0.0)[0] is True
    assert decide(gain=0.0, min_proposals=21)[:2] == (False, False)
    judged(3, accepted=5, rejected=15)  # v3 is accepted less than v2
    assert decide(gain=0.0, active=3)[:2] == (False, False)
    assert decide(gain=0.0, active=None)[:2] == (False, False)


def test_the_predecessor_is_the_latest_earlier_version_with_enough_proposals() -> None:
    judged(None, accepted=2, rejected=18)  # the base model, 10%
    judged(1, accepted=1, rejected=2)  # too few to count
    judged(2, accepted=5, rejected=15)  # 25%: better than the base, not than v1 (which does not count)
    hold, applies, reason = decide(gain=0.5)
    assert hold and applies and "of the base model" in reason


def test_the_gate_result_loses_its_promotion_and_says_why() -> None:
    judged(1, accepted=4, rejected=16, voice="v")
    judged(2, accepted=16, rejected=4, voice="v")
    gate = GateResult(
        True, "promoted", {"active": 2.0, "candidate": 1.9}, active_version=2, voice={"gain_difference": 0.7}
    )
    held = hold_for_feedback(gate, "v", EvalSettings(), get_paths())
    assert held.promote is False and held.reason.startswith("The new voice was held back")
    assert held.voice["feedback"]["hold"] is True and held.voice["feedback"]["predecessor_version"] == 1
    assert held.to_dict()["voice_gate"]["feedback"]["active_rate"] == 0.8
    ahead = hold_for_feedback(
        GateResult(True, "promoted", {}, active_version=2, voice={"gain_difference": 3.0}),
        "v",
        EvalSettings(),
        get_paths(),
    )
    assert ahead.promote is True and ahead.voice["feedback"]["hold"] is False
    other_voice = hold_for_feedback(gate, "austen", EvalSettings(), get_paths())
    assert other_voice is gate


def test_a_training_job_keeps_the_adapter_the_writer_takes_to(tmp_path: Path) -> None:
    """Two real jobs: v1 is promoted; with the writer accepting v1 far more than the base model, v2 is
    held back although every other check (loosened here) would promote it."""
    config = make_voice(tmp_path)
    config.inference.n_threads = 1
    gate = config.evaluation
    gate.gate_passages, gate.max_tokens = 2, 24
    # Any candidate passes the voice gate's own checks, so only the writer's acceptance can hold one back.
    gate.gate_min_gain, gate.gate_confidence, gate.gate_nll_tolerance = -1000.0, 0.0, 1000.0
    gate.gate_max_copy_rate, gate.gate_max_commentary_rate, gate.gate_min_names_kept = 1.0, 1.0, 0.0
    gate.gate_feedback_min_gain = 1000.0
    first = run_training_job(config, "austen", overrides={"max_steps": 2})
    assert first.status == "active", first.reason
    judged(None, accepted=2, rejected=18)
    judged(first.version, accepted=18, rejected=2)

    second = run_training_job(config, "austen", overrides={"max_steps": 2})
    assert second.status == "rejected"
    assert second.reason.startswith(
        f"The new voice was held back: you accepted 90% of 20 proposals of v{first.version} "
        "against 10% of 20 of the base model"
    )
    registry = Registry.open("austen")
    assert registry.active().number == first.version
    manifest = json.loads((registry.get(second.version).path / MANIFEST).read_text())
    held = manifest["scores"]["voice_gate"]["feedback"]
    assert held["hold"] is True and held["predecessor_version"] is None and held["min_gain"] == 1000.0
