"""The figures a voice is judged by, each on tiny inputs worked out by hand."""

from __future__ import annotations

import pytest

from voiced.config import Config
from voiced.evaluation.meaning import chrf
from voiced.evaluation.passage_metrics import mean_metrics, passage_metrics
from voiced.evaluation.stylometry import build_delta_model
from voiced.inference.rewrite_guard import GuardLimits

ORIGINAL = "Anne walked slowly to Uppercross on the 3rd of June; she was not sorry to be alone."
DRAFT = "Anne walked to Uppercross on the 3rd of June. She wasn't sorry to be alone."
WRITER_TEXT = "She was not sorry to be alone; the walk was long, and the lanes were quiet. " * 30
OTHER_TEXT = "Hey, so basically we gotta go now, it's super late and stuff, right? " * 30
LIMITS = GuardLimits.from_settings(Config().inference)


@pytest.fixture(scope="module")
def models():
    profiles = {"writer": WRITER_TEXT, "other": OTHER_TEXT}
    return {
        "char3": build_delta_model(profiles, "char3", 200, chunk_words=50),
        "words": build_delta_model(profiles, "words", 30, chunk_words=50),
    }


def test_a_rewrite_equal_to_the_original_gains_what_the_draft_lacked(models):
    row = passage_metrics(ORIGINAL, DRAFT, ORIGINAL, "writer", models, LIMITS)
    assert row["chrf"] == pytest.approx(100.0)
    assert row["chrf_gain"] == pytest.approx(100.0 - chrf(DRAFT, ORIGINAL))
    assert row["copy"] == 0.0 and row["commentary"] == 0.0 and row["length_ratio"] == pytest.approx(1.0)
    assert row["kept_names_numbers"] == pytest.approx(1.0)


def test_the_draft_returned_is_a_copy_with_no_gain(models):
    row = passage_metrics(
        "  Anne walked to Uppercross on the 3rd of June.\nShe wasn't sorry to be alone. ",
        DRAFT,
        ORIGINAL,
        "writer",
        models,
        LIMITS,
    )
    assert row["copy"] == 1.0 and row["chrf_gain"] == pytest.approx(0.0, abs=1e-9)
    assert row["towards_char3"] == pytest.approx(0.0) and row["closer_char3"] == 0.0
    assert row["commentary"] == 0.0 and row["guard_rejected"] == 0.0  # a copy is "unchanged", not an error


def test_commentary_is_caught_by_the_rewrite_guard(models):
    answer = "I'll make that sound more like you. The text is written in a calm, reflective voice."
    row = passage_metrics(answer, DRAFT, ORIGINAL, "writer", models, LIMITS)
    assert row["commentary"] == 1.0 and row["guard_rejected"] == 1.0 and row["copy"] == 0.0
    assert row["kept_names_numbers"] == 0.0 and row["chrf_gain"] < 0


def test_towards_the_writer_and_the_share_closer(models):
    """A rewrite in the writer's words is closer to the writer's profile than a draft in the other's."""
    rough = "Hey, so basically Anne's gotta go to Uppercross, it's super late and stuff, right?"
    rewrite = "Anne was not sorry to be alone; the walk to Uppercross was long, and the lanes were quiet."
    row = passage_metrics(rewrite, rough, ORIGINAL, "writer", models, LIMITS)
    assert row["towards_char3"] > 0 and row["closer_char3"] == 1.0 and row["attributed_char3"] == 1.0
    back = passage_metrics(rough, rewrite, ORIGINAL, "writer", models, LIMITS)
    assert back["towards_char3"] == pytest.approx(-row["towards_char3"]) and back["closer_char3"] == 0.0
    assert back["attributed_char3"] == 0.0


def test_rates_are_means_over_passages(models):
    rows = [
        passage_metrics(DRAFT, DRAFT, ORIGINAL, "writer", models, LIMITS),
        passage_metrics(ORIGINAL, DRAFT, ORIGINAL, "writer", models, LIMITS),
        passage_metrics(ORIGINAL, DRAFT, ORIGINAL, "writer", models, LIMITS),
        passage_metrics(
            "I apologise for the confusion. Here is the rewritten text.", DRAFT, ORIGINAL, "writer", models, LIMITS
        ),
    ]
    means = mean_metrics(rows)
    assert means["copy"] == pytest.approx(0.25) and means["commentary"] == pytest.approx(0.25)
    assert means["chrf_gain"] == pytest.approx(sum(r["chrf_gain"] for r in rows) / 4)
    without_guard = passage_metrics(DRAFT, DRAFT, ORIGINAL, "writer", models)
    assert "commentary" not in without_guard and mean_metrics([without_guard])["commentary"] is None
