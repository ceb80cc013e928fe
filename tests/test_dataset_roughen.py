"""Offline roughening over many real Austen paragraphs: deterministic, different, names and numbers kept."""

from __future__ import annotations

import pytest
from data_support import austen_paragraphs

from voiced.trainer.roughen import STYLES, keeps_names_and_numbers, protected_tokens, roughen

NOVELS = ("persuasion", "emma", "pride-and-prejudice", "sense-and-sensibility", "mansfield-park", "northanger-abbey")


def _sample(novel: str, count: int = 250) -> list[str]:
    paragraphs = austen_paragraphs(novel)
    step = max(1, len(paragraphs) // count)
    return list(paragraphs[::step][:count])


@pytest.mark.parametrize("novel", NOVELS)
def test_rough_drafts_differ_and_keep_names_and_numbers(novel):
    for text in _sample(novel):
        draft = roughen(text, seed=7)
        assert draft.text != text
        assert keeps_names_and_numbers(text, draft.text), (text, draft.text)


def test_roughening_is_deterministic_per_seed():
    texts = _sample("emma", 100)
    first = [roughen(t, seed=3) for t in texts]
    assert first == [roughen(t, seed=3) for t in texts]
    other = [roughen(t, seed=4) for t in texts]
    assert sum(a.text != b.text for a, b in zip(first, other, strict=False)) > len(texts) // 2


def test_each_style_changes_text_its_own_way():
    text = (
        "Anne had never, perhaps, been so exceedingly vexed; it is not in her nature to complain, "
        "and she did not. Captain Wentworth replied that he would call at 10 o'clock, however late "
        "the hour, upon Mrs Croft and the Admiral."
    )
    drafts = {style: roughen(text, seed=1, style=style, structural_noise=0.0).text for style in STYLES}
    assert len(set(drafts.values())) == 3
    assert "exceedingly" not in drafts["generic"] and "perhaps" not in drafts["generic"]
    assert len(drafts["verbose"].split()) > len(text.split())
    assert "isn't" in drafts["loose"] or "didn't" in drafts["loose"] or "it's" in drafts["loose"]
    for draft in drafts.values():
        for token in ("Wentworth", "Croft", "Admiral", "10"):
            assert token in draft


def test_protected_tokens_are_names_and_numbers_not_sentence_openers():
    tokens = protected_tokens("The house at Kellynch cost 2,500 pounds. She told Lady Russell in 1814.")
    assert tokens == ["Kellynch", "2,500", "Lady", "Russell", "1814"]
    assert not keeps_names_and_numbers("He met Elliot.", "He met him.")


def test_structural_noise_moves_sentences_without_changing_words():
    text = "Anne walked to Uppercross. The day was fine, and the lane was dry. Mary was waiting at the door."
    drafts = {roughen(text, seed=s, style="generic", structural_noise=1.0).style for s in range(10)}
    assert "generic+structure" in drafts


def test_unknown_style_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown roughening style"):
        roughen("Some text here.", seed=1, style="poetic")
