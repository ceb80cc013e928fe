"""Helpers for the training tests: the embedded model loaded once, short real examples.

Examples are Austen paragraphs behind a short chat prompt (masked with -100),
cut to a few dozen tokens so a step takes about a second on two cores.
"""

from __future__ import annotations

import dataclasses

from voiced.config import TrainingSettings
from voiced.prompts import rewrite_messages


def load_embedded():
    """(model, tokenizer): SmolLM2-135M dequantised from the embedded GGUF, float32 on CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from voiced.models import embedded_model_path

    path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model, tokenizer


def make_examples(tokenizer, paragraphs: list[str], max_tokens: int = 64) -> list[dict[str, list[int]]]:
    """Tokenized rewrite examples: loss on the response only, cut to ``max_tokens``."""
    out = []
    for text in paragraphs:
        draft = " ".join(text.split()[:4])  # a short prompt leaves most of the tokens to the response
        prompt = tokenizer.apply_chat_template(
            rewrite_messages("Austen.", draft), add_generation_prompt=True, tokenize=True
        )
        if isinstance(prompt, dict) or hasattr(prompt, "input_ids"):
            prompt = prompt["input_ids"]
        response = tokenizer(text + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = (list(prompt) + response)[:max_tokens]
        labels = ([-100] * len(prompt) + response)[:max_tokens]
        assert len(prompt) < max_tokens - 16, "the prompt leaves too few response tokens"
        out.append({"input_ids": ids, "labels": labels})
    return out


def fast_settings(**changes) -> TrainingSettings:
    """Small, quick runs: batch 4, no time budget, a high learning rate, one thread.

    One thread because the two cores here are shared: with two threads on an
    oversubscribed machine a step took about ten times longer.
    """
    base = TrainingSettings(
        batch_size=4,
        epochs=1,
        eval_every=4,
        patience=0,
        max_minutes=0,
        learning_rate=2e-3,
        warmup_fraction=0.1,
        device="cpu",
        torch_threads=1,
    )
    return dataclasses.replace(base, **changes)
