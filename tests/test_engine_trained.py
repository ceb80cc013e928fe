"""The engine on the embedded model with an adapter really trained on it (not a random GGUF LoRA).

A few PEFT steps on Austen paragraphs (one thread, 64-token examples: a
four-word draft, the paragraph as the response), the adapter exported to GGUF
the way the trainer exports it, then loaded by the engine for a voice whose
system prompt is the one trained with: for the same seed, greedy, its rewrite
of a held-out draft differs from the base model's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from data_support import austen_paragraphs
from engine_support import GREEDY, embedded_config
from train_support import fast_settings, load_embedded, make_examples

from voiced.inference.engine import Engine
from voiced.models import embedded_model_path


@pytest.fixture(scope="module")
def trained_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from voiced.trainer.gguf_lora import export_gguf_lora
    from voiced.trainer.training import train

    work = tmp_path_factory.mktemp("trained")
    model, tokenizer = load_embedded()
    paragraphs = austen_paragraphs(min_words=15)
    train_set = make_examples(tokenizer, paragraphs[:8])
    valid_set = make_examples(tokenizer, paragraphs[40:42])
    result = train(model, train_set, valid_set, fast_settings(epochs=3), work / "run")
    assert result.steps == 6 and result.adapter_dir is not None
    return export_gguf_lora(result.adapter_dir, embedded_model_path(), work / "adapter.gguf")


@pytest.mark.slow
def test_a_trained_adapter_changes_the_rewrite_for_the_same_seed(trained_lora: Path) -> None:
    config = embedded_config()
    config.voices["default"].system_prompt = "Austen."  # the prompt make_examples trains with
    draft = " ".join(
        austen_paragraphs(min_words=15)[60].split()[:4]
    )  # held out: training used paragraphs 0-7 and 40-41
    params = replace(GREEDY, max_tokens=24)
    with Engine(config, adapter_resolver=lambda voice: trained_lora) as engine:
        adapted = engine.rewrite("default", draft, params)
        assert engine.status()["default"].adapter == str(trained_lora)
        assert engine.rewrite("default", draft, params) == adapted  # greedy with one seed: reproducible
        engine.set_adapter("default", None)
        base = engine.rewrite("default", draft, params)
    assert adapted.strip() and base.strip()
    assert adapted != base
