"""The "voice" gate's decision on hand-made per-passage figures: promote, and each rejection with its reason."""

from __future__ import annotations

from voiced.config import EvalSettings
from voiced.evaluation.voice_gate import bootstrap_share, decide_voice

SETTINGS = EvalSettings()


def rows(gains, copy=(), commentary=(), kept=1.0):
    return [
        {
            "chrf_gain": g,
            "copy": float(i in copy),
            "commentary": float(i in commentary),
            "kept_names_numbers": kept,
            "length_ratio": 1.0,
        }
        for i, g in enumerate(gains)
    ]


REFERENCE = rows([-2.0, -1.0, 0.0, -3.0, -1.5, -0.5, -2.5, -1.0, 0.5, -2.0] * 2)
BETTER = rows(
    [g + d for g, d in zip([r["chrf_gain"] for r in REFERENCE], [3, 2, 4, 1, 3, 2, 5, 2, 1, 3] * 2, strict=False)]
)
NLL = {"reference": 0.60, "candidate": 0.55}


def decide(candidate, reference=REFERENCE, nll=NLL, training_family=None):
    return decide_voice(
        reference, candidate, SETTINGS, reference_label="the base model", nll=nll, training_family=training_family
    )


def test_a_candidate_that_recovers_more_of_the_writer_is_promoted():
    decision = decide(BETTER)
    assert decision.promote
    assert decision.gain_difference > 2 and decision.confidence >= 0.99
    assert decision.reason.startswith("The new voice's rewrites of 20 drafts it never trained on come closer")
    assert (
        decision.to_dict()["held_out"]["candidate"]["chrf_gain"]
        > decision.to_dict()["held_out"]["reference"]["chrf_gain"]
    )


def test_a_candidate_that_copies_the_draft_is_rejected_even_if_it_gains():
    decision = decide(rows([r["chrf_gain"] + 3 for r in BETTER], copy=(0, 5)))  # 2 of 20 = 10% > 5%
    assert not decision.promote
    assert decision.reason.startswith("The new voice copies the draft: it gave back 2 of 20")
    assert not decide(rows([r["chrf_gain"] for r in BETTER], copy=(0,))).reason.startswith("The new voice copies")


def test_copies_count_against_a_candidate_only_beyond_the_reference():
    copying_reference = rows([r["chrf_gain"] for r in REFERENCE], copy=(0, 1, 2, 3))
    fewer = decide(rows([r["chrf_gain"] for r in BETTER], copy=(0, 1, 2)), reference=copying_reference)
    assert fewer.promote, fewer.reason  # 15% copies, but the base model copies 20%
    more = decide(rows([r["chrf_gain"] for r in BETTER], copy=(0, 1, 2, 3, 4)), reference=copying_reference)
    assert not more.promote
    assert more.reason.startswith("The new voice copies the draft: it gave back 5 of 20 test drafts unchanged")
    assert "(the base model 4)" in more.reason


def test_a_candidate_that_comments_on_the_text_is_rejected():
    decision = decide(rows([r["chrf_gain"] for r in BETTER], commentary=(7,)))
    assert not decision.promote and "comments on the text instead of rewriting it (1 of 20" in decision.reason


def test_a_candidate_that_loses_names_is_rejected():
    decision = decide(rows([r["chrf_gain"] for r in BETTER], kept=0.95))
    assert not decision.promote and "loses names or numbers" in decision.reason and "95%" in decision.reason


def test_the_nll_guard_rejects_a_candidate_that_models_the_writer_worse():
    decision = decide(BETTER, nll={"reference": 0.60, "candidate": 0.70})
    assert not decision.promote and "predicts your held-out writing worse than the base model" in decision.reason
    within = decide(BETTER, nll={"reference": 0.60, "candidate": 0.64})  # inside the 0.05 tolerance
    assert within.promote


def test_a_candidate_that_only_undoes_the_training_roughener_is_named_so():
    asked = []

    def training_family():
        asked.append(True)
        return rows([-5.0] * 20), rows([+4.0] * 20)  # gains 9 chrF more on the drafts it trained to undo

    decision = decide(rows([r["chrf_gain"] for r in REFERENCE]), training_family=training_family)
    assert asked and not decision.promote
    assert decision.reason.startswith("The new voice only learned to undo voiced's own practice drafts")
    assert decision.training_family_gain == {"reference": -5.0, "candidate": 4.0}
    plain = decide(
        rows([r["chrf_gain"] for r in REFERENCE]), training_family=lambda: (rows([-5.0] * 20), rows([-4.5] * 20))
    )
    assert "are not closer to your own text than the base model's" in plain.reason


def test_the_training_family_drafts_are_not_rewritten_when_the_candidate_passes():
    def training_family():
        raise AssertionError("not needed for a candidate that passed")

    assert decide(BETTER, training_family=training_family).promote


def test_a_lucky_mean_is_not_enough():
    # +20 on one passage, -0.4 on the others: the mean is +0.62, but only resamples that draw that one favour it
    noisy = rows([r["chrf_gain"] + (20.0 if i == 0 else -0.4) for i, r in enumerate(REFERENCE)])
    decision = decide(noisy)
    assert decision.gain_difference > SETTINGS.gate_min_gain
    assert not decision.promote and decision.confidence < SETTINGS.gate_confidence
    assert bootstrap_share([1.0] * 10, seed=1) == 1.0 and bootstrap_share([0.0] * 10, seed=1) == 0.5


def test_a_share_just_under_the_bar_never_reads_as_the_bar():
    decision = decide(rows([r["chrf_gain"] for r in BETTER], kept=0.976))
    assert not decision.promote and "kept 97.6% of them" in decision.reason and "at least 98%" in decision.reason


def test_a_copy_verdict_says_how_many_drafts_the_rewrite_guard_gave_back():
    """The gate judges what the writer is served: a rewrite the guard rejected on every try is the draft."""
    copied = rows([r["chrf_gain"] + 3 for r in BETTER], copy=(0, 5, 7))
    decision = decide_voice(
        REFERENCE,
        copied,
        SETTINGS,
        reference_label="the base model",
        nll=NLL,
        kept_draft_codes=["names_dropped", "commentary", "names_dropped"],
    )
    assert not decision.promote
    assert decision.reason == (
        "The new voice copies the draft: it gave back 3 of 20 test drafts unchanged (the base model 0), "
        "3 of them because the rewrite guard rejected every try (names dropped 2, commentary 1), "
        "so it would not change your text."
    )
