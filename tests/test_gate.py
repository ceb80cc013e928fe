"""The evaluation gate on the real embedded model: scores, promotion, rejection with the reason."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from data_support import austen_paragraphs
from train_support import fast_settings, load_embedded, make_examples

from voiced.trainer.gate import decide, response_nll, run_gate


@pytest.fixture(scope="module")
def embedded():
    import torch

    torch.set_num_threads(1)  # two shared cores: one thread each avoids spinning against other processes
    return load_embedded()


@pytest.fixture(scope="module")
def split(embedded):
    _model, tokenizer = embedded
    paragraphs = austen_paragraphs("persuasion", min_words=15)
    train = make_examples(tokenizer, paragraphs[10:34], max_tokens=64)
    test = make_examples(tokenizer, paragraphs[:6], max_tokens=64)
    return train, test


@pytest.fixture(scope="module")
def trained_adapter(embedded, split, tmp_path_factory) -> Path:
    """A real adapter: 12 steps on 24 Persuasion paragraphs."""
    from voiced.trainer.training import train

    model, _tokenizer = embedded
    train_examples, _test = split
    out = tmp_path_factory.mktemp("run")
    result = train(model, train_examples, [], fast_settings(epochs=2, lora_rank=8, torch_threads=1), out)
    assert result.adapter_dir is not None
    return result.adapter_dir


def random_adapter(model, folder: Path, scale: float) -> Path:
    """A LoRA adapter with large random B: a candidate that is clearly worse than the base."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, scale)
    peft_model.save_pretrained(folder, safe_serialization=True)
    peft_model.unload()
    return folder


def test_response_nll_counts_only_response_tokens(embedded, split) -> None:
    model, _tokenizer = embedded
    _train, test = split
    score = response_nll(model, test, batch_size=4)
    assert score.tokens == sum(sum(1 for label in ex["labels"][1:] if label != -100) for ex in test)
    assert score.examples == len(test)
    assert 0.5 < score.nll < 8.0
    # the batching and padding do not change the score
    assert math.isclose(response_nll(model, test, batch_size=1).nll, score.nll, rel_tol=1e-4)


def test_decide_by_margin() -> None:
    assert decide(2.30, 2.40, "active v3", 0.05)[0]
    promote, reason = decide(2.41, 2.38, "active v3", 0.01)
    assert not promote and reason == "test NLL 2.410 is not better than active v3's 2.380"
    promote, reason = decide(2.375, 2.38, "active v3", 0.01)
    assert not promote and "required margin 0.01" in reason


@pytest.mark.slow
def test_a_trained_candidate_beats_the_base_and_is_promoted(embedded, split, trained_adapter) -> None:
    model, _tokenizer = embedded
    _train, test = split
    result = run_gate(model, test, trained_adapter, margin=0.01)
    assert result.promote, result.reason
    assert result.scores["candidate"] < result.scores["base"] - 0.01
    assert "beats the base model" in result.reason
    assert set(result.to_dict()["test_nll"]) == {"base", "candidate"}
    # the caller's model comes back without LoRA layers
    assert not any("lora" in name for name, _ in model.named_parameters())


@pytest.mark.slow
def test_a_worse_candidate_is_rejected_against_the_active_adapter(
    embedded, split, trained_adapter, tmp_path: Path
) -> None:
    model, _tokenizer = embedded
    _train, test = split
    bad = random_adapter(model, tmp_path / "bad", scale=0.5)
    result = run_gate(model, test, bad, active_dir=trained_adapter, active_version=3, margin=0.01)
    assert not result.promote
    assert result.scores["candidate"] > result.scores["active"]
    assert result.reason.startswith(f"test NLL {result.scores['candidate']:.3f} is not better than active v3's")
    base_alone = response_nll(model, test).nll
    assert math.isclose(result.scores["base"], base_alone, rel_tol=1e-5)
    assert result.scores["active"] < result.scores["base"]


@pytest.mark.slow
def test_a_cached_base_score_gives_the_same_decision(embedded, split, trained_adapter, tmp_path: Path) -> None:
    """The job's cache (voiced.trainer.nll_cache) stores what response_nll computes on the plain model; the
    gate that scores the base itself (adapters disabled) gets the same number and the same decision."""
    from voiced.trainer import nll_cache
    from voiced.trainer.gate import NllScore

    model, _tokenizer = embedded
    _train, test = split
    path, key = tmp_path / "base-nll.json", {"test": nll_cache.examples_digest(test)}
    plain = response_nll(model, test)
    nll_cache.store(path, key, plain.nll, plain.tokens, plain.examples)
    cached, how = nll_cache.lookup(path, key, test)
    assert how == nll_cache.HIT and cached is not None and cached.tokens == plain.tokens
    computed = run_gate(model, test, trained_adapter, margin=0.01)
    reused = run_gate(
        model, test, trained_adapter, margin=0.01, base=NllScore(cached.nll, cached.tokens, cached.examples)
    )
    assert abs(reused.scores["base"] - computed.scores["base"]) < 1e-6
    assert abs(reused.scores["candidate"] - computed.scores["candidate"]) < 1e-6
    assert (reused.promote, reused.test_tokens) == (computed.promote, computed.test_tokens)
