"""Anchored decoding: the anchor follows a rewrite through its draft, and on the real embedded model (llama.cpp
and transformers) a strong anchor gives the draft back while a moderate one keeps more of it than none."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import GREEDY, embedded_config, write_lora_gguf

from voiced.evaluation.meaning import chrf
from voiced.inference.draft_anchor import LOOKAHEAD, DraftAnchor
from voiced.inference.engine import Engine
from voiced.inference.generation import GenerationParams

DRAFT = (
    "She didn't want to go to the party, but her mother said it was really important, so she got ready "
    "and went along with her sister Mary at eight."
)
END = 99


def test_copying_the_draft_moves_the_anchor_one_token_at_a_time() -> None:
    anchor = DraftAnchor([1, 2, 3, 4], 3.0, [END])
    assert anchor.bonuses()[1] == 3.0
    anchor.observe_all([1, 2])
    assert anchor.position == 2
    assert anchor.bonuses()[3] == 3.0
    assert anchor.bonuses()[4] == 1.5  # a token further on gets half: dropping a word costs more


def test_an_edit_leaves_the_anchor_until_the_rewrite_rejoins_the_draft() -> None:
    anchor = DraftAnchor([10, 11, 12, 13, 14, 15, 16, 17, 18], 2.0, [END])
    anchor.observe_all([10, 50, 51])  # "10" copied, then two tokens of the rewrite's own
    assert anchor.position == 1
    anchor.observe(12)  # the rewrite skipped 11 and carries on with the draft
    assert anchor.position == 3
    far = DraftAnchor(list(range(100, 120)), 2.0, [END])
    far.observe_all([60, 110, 111])  # rejoined beyond the lookahead: found by its last two tokens
    assert far.position == 12


def test_the_end_of_the_turn_is_favoured_once_the_draft_is_used_up() -> None:
    anchor = DraftAnchor([5, 6], 4.0, [END])
    anchor.observe_all([5, 6])
    assert anchor.bonuses() == {END: 4.0}


def test_ending_before_the_draft_is_nearly_used_up_is_penalised() -> None:
    anchor = DraftAnchor(list(range(20)), 2.0, [END])
    assert anchor.bonuses()[END] == -2.0  # stopping here would leave the draft's last sentences out
    anchor.observe_all(range(20 - LOOKAHEAD))
    assert END not in anchor.bonuses()  # a word or two from the end: neither pushed nor held
    anchor.observe_all(range(20 - LOOKAHEAD, 20))
    assert anchor.bonuses() == {END: 2.0}


def test_the_lookahead_is_bounded() -> None:
    anchor = DraftAnchor(list(range(50)), 2.0, [END])
    assert len([bonus for bonus in anchor.bonuses().values() if bonus > 0]) == 1 + LOOKAHEAD


@pytest.fixture(scope="module")
def engine():
    config = embedded_config()
    config.inference.guard = False  # the model's own words, not the guard's verdict on them
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        yield engine


def test_a_strong_anchor_gives_the_draft_back_through_llama_cpp(engine: Engine) -> None:
    out = engine.rewrite("default", DRAFT, replace(GREEDY, max_tokens=None, draft_anchor=60.0))
    assert " ".join(out.split()) == DRAFT


def test_a_moderate_anchor_keeps_more_of_the_draft_than_none(engine: Engine) -> None:
    free = engine.rewrite("default", DRAFT, replace(GREEDY, max_tokens=None, draft_anchor=0.0))
    anchored = engine.rewrite("default", DRAFT, replace(GREEDY, max_tokens=None, draft_anchor=3.0))
    assert chrf(anchored, DRAFT) > chrf(free, DRAFT)
    assert "Mary" in anchored and "eight" in anchored


def test_the_configured_hold_follows_what_is_served(engine: Engine, tmp_path: Path) -> None:
    """No strength in the request: draft_anchor_base holds the base model, draft_anchor an adapter."""
    settings, params = engine.config.inference, replace(GREEDY, max_tokens=None)
    saved = (settings.draft_anchor, settings.draft_anchor_base)
    try:
        settings.draft_anchor, settings.draft_anchor_base = 0.0, 60.0
        assert " ".join(engine.rewrite("default", DRAFT, params).split()) == DRAFT  # the base model, held
        engine.set_adapter("default", write_lora_gguf(tmp_path / "lora.gguf", seed=5))
        assert " ".join(engine.rewrite("default", DRAFT, params).split()) != DRAFT  # the adapter, free
        settings.draft_anchor = 60.0
        assert " ".join(engine.rewrite("default", DRAFT, params).split()) == DRAFT  # the adapter, held
        assert engine.rewrite("default", DRAFT, replace(params, draft_anchor=0.0)) != DRAFT  # a request's own wins
    finally:
        settings.draft_anchor, settings.draft_anchor_base = saved
        engine.set_adapter("default", None)


@pytest.mark.slow
def test_a_strong_anchor_gives_the_draft_back_through_transformers(tmp_path: Path) -> None:
    from voiced.config import EMBEDDED_MODEL
    from voiced.inference.hf_backend import TransformersBackend
    from voiced.prompts import rewrite_messages
    from voiced.trainer.base_model import load_base_model

    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path, safe_serialization=True)
    backend = TransformersBackend(str(tmp_path), n_ctx=2048, n_threads=1)
    params = GenerationParams(temperature=0.0, top_p=1.0, top_k=0, repeat_penalty=1.0, seed=1, draft_anchor=60.0)
    messages = rewrite_messages("Write as the writer writes.", DRAFT)
    try:
        out = "".join(backend.stream_chat(messages, params, 80, threading.Event(), anchor_text=DRAFT))
    finally:
        backend.close()
    assert " ".join(out.split()) == DRAFT
