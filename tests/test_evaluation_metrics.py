"""Each evaluation metric against values worked out by hand on tiny texts, and Delta attribution on real prose."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from voiced.evaluation.meaning import chrf, kept_share, lcs_length, names_and_numbers, rouge_l
from voiced.evaluation.reference import reference_profiles
from voiced.evaluation.shape import (flesch_reading_ease, gunning_fog, length_ratio, mtld, sentence_lengths,
                                     syllables, wasserstein)
from voiced.evaluation.stylometry import (attribution_accuracy, build_delta_model, chunks_of_words, cosine_distance,
                                          voice_score)

REPO = Path(__file__).resolve().parent.parent


def test_rouge_l_is_lcs_f1():
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4
    # LCS 3 of 3 hypothesis words and 6 reference words: P = 1, R = 1/2, F1 = 2/3
    assert rouge_l("The cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert rouge_l("dogs bark", "the cat sat") == 0.0


def test_chrf_bounds():
    assert chrf("The cat sat on the mat.", "The cat sat on the mat.") == pytest.approx(100.0)
    assert chrf("xyz qqq", "The cat sat on the mat.") == pytest.approx(0.0)
    assert 0 < chrf("The cat sat on a mat.", "The cat sat on the mat.") < 100


def test_names_and_numbers_kept():
    original = "Then Anna paid 12 pounds to Bob."
    assert names_and_numbers(original) == {"Anna", "Bob", "12"}
    assert kept_share("Anna paid 12 pounds.", original) == pytest.approx(2 / 3)
    assert kept_share("anything", "no names here.") is None


def test_shape_metrics_by_hand():
    assert length_ratio("one two three", "one two three four five six") == pytest.approx(0.5)
    assert sentence_lengths("One two. Three four five! Six?") == [2, 3, 1]
    assert wasserstein([1, 2, 3], [1, 2, 3]) == 0.0
    assert wasserstein([0], [5]) == pytest.approx(5.0)
    assert wasserstein([1, 3], [2, 2]) == pytest.approx(1.0)


def test_syllables_and_readability():
    assert syllables("cat") == 1
    assert syllables("beautiful") == 3
    assert syllables("zorblaxing") >= 2          # not in the CMU dictionary: pyphen's count
    # 3 words, 1 sentence, 3 syllables: 206.835 - 1.015 * 3 - 84.6 * 1
    assert flesch_reading_ease("The cat sat.") == pytest.approx(119.19)
    # 3 words per sentence, no word of 3+ syllables: 0.4 * 3
    assert gunning_fog("The cat sat.") == pytest.approx(1.2)
    assert gunning_fog("Beautiful animals.") == pytest.approx(0.4 * (2 + 100 * 2 / 2))
    assert math.isnan(flesch_reading_ease(""))


def test_mtld_by_hand():
    # TTR falls to 0.5 at every second "a": two full factors in four tokens, both directions.
    assert mtld("a a a a") == pytest.approx(2.0)
    # No factor completes and the remainder's TTR is 1: MTLD is the token count.
    assert mtld("a b c") == pytest.approx(3.0)


def test_cosine_distance():
    assert cosine_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert cosine_distance([1, 1], [2, 2]) == pytest.approx(0.0)
    assert cosine_distance([1, 0], [-1, 0]) == pytest.approx(2.0)


def test_reference_profiles_ship_with_the_package():
    refs = reference_profiles()
    assert len(refs) == 6 and all(name.startswith("austen/") for name in refs)
    assert all(40_000 < len(text) < 60_000 for text in refs.values())


def _modern_profile() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").glob("*.md")))


def test_delta_separates_austen_from_modern_plain_english(austen_dir):
    """Held-out 300-word passages: Austen (end of Emma, Persuasion) vs the team's design notes."""
    profiles = dict(reference_profiles(), modern=_modern_profile())
    austen = [c for name in ("emma", "persuasion")
              for c in chunks_of_words((austen_dir / f"{name}.txt").read_text()[-100_000:], 300)[:6]]
    design = austen_dir.parent.parent / "design.md"
    modern = chunks_of_words(design.read_text(encoding="utf-8"), 300)
    assert len(modern) >= 3
    for kind, top in (("char3", 2000), ("words", 300)):
        model = build_delta_model(profiles, kind, top)
        right = [model.nearest(c).startswith("austen/") for c in austen] + [model.nearest(c) == "modern" for c in modern]
        assert sum(right) / len(right) >= 0.9, kind


def test_delta_tells_two_austen_novels_apart_above_chance(austen_dir):
    """Six novel profiles; 300-word passages from outside the shipped excerpts. Chance is 1/6; measured
    about 0.6 (char 3-grams) and 0.5 (words) on 60 passages: well above chance, far from reliable."""
    refs = reference_profiles()
    held = [(f"austen/{name}", c) for name in ("emma", "persuasion")
            for c in chunks_of_words((austen_dir / f"{name}.txt").read_text()[-150_000:], 300)[:10]]
    for kind, top in (("char3", 2000), ("words", 300)):
        accuracy = attribution_accuracy(build_delta_model(refs, kind, top), held)
        assert accuracy > 2 / 6, (kind, accuracy)


def test_voice_score_moves_towards_the_writer():
    refs = reference_profiles()
    writer = "modern"
    model = build_delta_model(dict(refs, modern=_modern_profile()), "char3", 2000)
    rough = refs["austen/emma"][:1500]
    rewrite = _modern_profile()[2000:3500]
    score = voice_score(model, writer, rough, rewrite)
    assert score.towards_writer > 0 and score.attributed
    assert score.towards_writer == pytest.approx(score.rough_delta - score.rewrite_delta)
