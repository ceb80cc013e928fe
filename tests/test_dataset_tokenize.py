"""Tokenization with the embedded model's chat template: response-only labels, fitting, bucketing."""

from __future__ import annotations

import pytest
from data_support import austen_paragraphs
from dataset_support import embedded_tokenizer

from voiced.trainer.dataset import Example
from voiced.trainer.dataset import make_batches as make_batches_from_dataset
from voiced.trainer.tokenize import (
    IGNORE_INDEX,
    make_batches,
    pad_batch,
    padding_efficiency,
    tokenize_example,
    tokenize_examples,
)

SYSTEM = "You write like the narrator of Persuasion."


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def _example(task: str, prompt: list[str], response: list[str], ident: str = "x") -> Example:
    return Example(
        id=ident,
        task=task,
        shape="section" if len(response) > 1 else "paragraph",
        split="train",
        document="a.md",
        section=("One",),
        system_prompt=SYSTEM,
        prompt_parts=tuple(prompt),
        response_parts=tuple(response),
    )


def test_labels_mask_exactly_the_prompt(tokenizer):
    paragraphs = austen_paragraphs()[10:12]
    example = _example("rewrite", ["So, basically, a rough one.", "And another."], list(paragraphs))
    tokens = tokenize_example(tokenizer, example)
    prompt_text = tokenizer.apply_chat_template(example.prompt_messages(), tokenize=False, add_generation_prompt=True)
    prompt_len = len(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    assert tokens.labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert all(label != IGNORE_INDEX for label in tokens.labels[prompt_len : prompt_len + 5])
    trained = [label for label in tokens.labels if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == example.response_text + tokenizer.eos_token
    # The ids are the rendered conversation up to the end-of-turn token; the labels are those ids,
    # unshifted, after an ignored prefix (the only masking mlx-lm can express).
    full = tokenizer.apply_chat_template(example.messages(), tokenize=False)
    assert full.startswith(tokenizer.decode(tokens.input_ids))
    assert tokenizer.decode(tokens.input_ids).endswith(example.response_text + tokenizer.eos_token)
    assert tokens.labels[prompt_len:] == tokens.input_ids[prompt_len:]
    from voiced.trainer.mlx_backend import to_mlx_example

    assert to_mlx_example(tokens) == (tokens.input_ids, prompt_len)
    assert tokens.pad_id == tokenizer.eos_token_id or tokens.pad_id == tokenizer.pad_token_id


def test_long_examples_are_shortened_at_passage_boundaries_or_dropped(tokenizer):
    paragraphs = [p for p in austen_paragraphs() if 60 <= len(p.split()) <= 120][:6]
    section = _example("rewrite", [f"Draft {i}." for i in range(6)], paragraphs, "section")
    continuation = _example("continue", [paragraphs[0]], paragraphs[1:], "continue")
    too_long = _example("rewrite", ["Short draft."], [" ".join(paragraphs)], "toolong")
    fits = _example("rewrite", ["A draft."], [paragraphs[0]], "fits")
    budget = 400
    fitted, report = tokenize_examples(tokenizer, [section, continuation, too_long, fits], budget)
    assert (report.kept, report.shortened, report.dropped) == (3, 2, 1)
    assert report.dropped_ids == ["toolong"]
    by_id = {t.example_id: t for t in fitted}
    for ident in ("section", "continue"):
        tokens = by_id[ident]
        assert len(tokens) <= budget
        text = tokenizer.decode([label for label in tokens.labels if label != IGNORE_INDEX])
        kept = text.removesuffix(tokenizer.eos_token).split("\n\n")
        source = paragraphs if ident == "section" else paragraphs[1:]
        assert 1 <= len(kept) < len(source) and kept == source[: len(kept)]  # whole passages, in order
    assert len(tokenize_example(tokenizer, fits)) == len(by_id["fits"])


def test_bucketing_reduces_padding_on_real_passages(tokenizer):
    paragraphs = austen_paragraphs("emma")[:400:2]
    examples = [_example("rewrite", ["Rough."], [p], str(i)) for i, p in enumerate(paragraphs)]
    tokenized, _ = tokenize_examples(tokenizer, examples, 1024)
    plain = make_batches(tokenized, 8, bucketing=False, seed=1)
    bucketed = make_batches(tokenized, 8, bucketing=True, seed=1)
    assert padding_efficiency(bucketed) > padding_efficiency(plain) + 0.15
    assert padding_efficiency(bucketed) > 0.8
    # Every example exactly once; different seeds give different epochs; same seed, same epoch.
    seen = sorted(
        tuple(row[: m.index(0)] if 0 in m else row)
        for b in bucketed
        for row, m in zip(b["input_ids"], b["attention_mask"], strict=False)
    )
    assert seen == sorted(tuple(t.input_ids) for t in tokenized)
    assert bucketed == make_batches(tokenized, 8, bucketing=True, seed=1)
    assert bucketed != make_batches(tokenized, 8, bucketing=True, seed=2)
    assert make_batches_from_dataset is make_batches


def test_padding_uses_eos_with_attention_zero_and_ignored_labels(tokenizer):
    short = tokenize_example(tokenizer, _example("rewrite", ["Rough."], ["Anne smiled."]))
    long = tokenize_example(tokenizer, _example("rewrite", ["Rough."], [austen_paragraphs()[5]]))
    batch = pad_batch([short, long])
    gap = len(long) - len(short)
    assert batch["input_ids"][0][-gap:] == [tokenizer.eos_token_id] * gap
    assert batch["attention_mask"][0] == [1] * len(short) + [0] * gap
    assert batch["labels"][0][-gap:] == [IGNORE_INDEX] * gap
    assert batch["attention_mask"][1] == [1] * len(long)
    # Plain dicts (what the training loop may hold) batch the same way.
    as_dicts = [{"input_ids": t.input_ids, "labels": t.labels} for t in (short, long)]
    assert pad_batch(as_dicts, pad_id=tokenizer.eos_token_id) == batch


def test_the_training_loop_batches_a_whole_dataset(tokenizer):
    from dataset_support import austen_documents

    from voiced.config import DatasetSettings
    from voiced.trainer.dataset import build_dataset
    from voiced.trainer.peft_backend import to_tensors
    from voiced.trainer.tokenize import make_batches, tokenize_dataset

    dataset = build_dataset("v", austen_documents(9), SYSTEM, DatasetSettings(min_corpus_words=0))
    splits = tokenize_dataset(tokenizer, dataset, 256)
    assert set(splits) == {"train", "valid", "test"}
    train, report = splits["train"]
    assert train and all(len(t) <= 256 for t in train)
    assert report.kept + report.dropped == len(dataset.examples["train"])
    batches = make_batches(train, 4, bucketing=True, seed=3)  # as the PEFT loop calls it each epoch
    assert sum(len(b["input_ids"]) for b in batches) == len(train)
    tensors = to_tensors(batches[0], "cpu")
    assert tensors["input_ids"].shape == tensors["labels"].shape == tensors["attention_mask"].shape
