"""Packed batches: the plan, the per-example attention and positions (proved by the loss), training with them."""

from __future__ import annotations

import random

import pytest
from data_support import austen_paragraphs
from train_support import fast_settings, load_embedded

from voiced.config import ConfigError, config_from_dict
from voiced.trainer.tokenize import (
    IGNORE_INDEX,
    epoch_batches,
    make_packed_batches,
    model_inputs,
    pack_batch,
    pack_plan,
    packed_rows,
    padding_efficiency,
    real_tokens,
)


@pytest.fixture(scope="module")
def embedded():
    import torch

    torch.set_num_threads(1)  # two shared cores: one thread is the fast choice here
    return load_embedded()


def varied_examples(tokenizer, count: int, offset: int = 0) -> list[dict]:
    """Real Austen passages cut to 12..40 tokens, the first four masked as a prompt: short, so steps are quick."""
    out = []
    for i, text in enumerate(austen_paragraphs(min_words=15)[offset : offset + count]):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][: 12 + (i * 7) % 29]
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * 4 + ids[4:]})
    return out


def test_pack_plan_is_deterministic_and_never_splits_or_overflows():
    rng = random.Random(7)
    lengths = [rng.randint(1, 100) for _ in range(500)]
    plan = pack_plan(lengths, 128)
    assert plan == pack_plan(list(lengths), 128)
    assert sorted(i for row in plan for i in row) == list(range(500))  # every example once, whole
    assert all(sum(lengths[i] for i in row) <= 128 for row in plan)
    lower_bound = -(-sum(lengths) // 128)
    assert len(plan) <= lower_bound * 1.05 + 1  # nearly full rows
    assert pack_plan([128, 1], 128) == [[0], [1]]
    assert pack_plan([], 10) == [] and make_packed_batches([], 4, seed=1) == []
    with pytest.raises(ValueError, match="more than the packing budget"):
        pack_plan([5, 129], 128)


def test_packed_rows_keep_examples_apart(embedded):
    _model, tokenizer = embedded
    examples = varied_examples(tokenizer, 24)
    batches = make_packed_batches(examples, 4, seed=3)
    assert batches == make_packed_batches(examples, 4, seed=3)
    assert batches != make_packed_batches(examples, 4, seed=4)  # rows share steps differently each epoch
    assert sum(len(b["input_ids"]) for b in batches) == packed_rows(examples) < len(examples)
    budget = max(len(e["input_ids"]) for e in examples)
    seen = []
    for batch in batches:
        for ids, labels, positions, mask in zip(
            batch["input_ids"], batch["labels"], batch["position_ids"], batch["attention_mask"], strict=False
        ):
            real = sum(mask)
            assert real <= budget and mask == [1] * real + [0] * (len(mask) - real)
            starts = [i for i, p in enumerate(positions[:real]) if p == 0]
            for start, end in zip(starts, starts[1:] + [real], strict=False):
                assert positions[start:end] == list(range(end - start))
                assert labels[start] == IGNORE_INDEX  # nothing predicts the next example's first token
                seen.append(ids[start:end])
            assert labels[real:] == [IGNORE_INDEX] * (len(mask) - real)
        assert model_inputs(batch) == {
            "input_ids": batch["input_ids"],
            "labels": batch["labels"],
            "position_ids": batch["position_ids"],
            "use_cache": False,
        }
    assert sorted(map(tuple, seen)) == sorted(tuple(e["input_ids"]) for e in examples)
    assert sum(real_tokens(b) for b in batches) == sum(len(e["input_ids"]) for e in examples)
    padded = epoch_batches(examples, 4, "pad", seed=3)
    assert padding_efficiency(batches) > padding_efficiency(padded) and padding_efficiency(batches) > 0.9


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_row_scores_as_its_examples_run_alone(embedded, attention):
    """The loss of one packed row is the token-weighted loss of its examples run separately, unpadded:
    the mask and the positions are right. A row with one causal mask over everything scores differently."""
    import torch

    model, tokenizer = embedded
    examples = varied_examples(tokenizer, 3, offset=10)
    before = model.config._attn_implementation
    model.set_attn_implementation(attention)
    try:
        with torch.no_grad():
            total, count = 0.0, 0
            for ex in examples:
                n = sum(label != IGNORE_INDEX for label in ex["labels"][1:])
                loss = model(input_ids=torch.tensor([ex["input_ids"]]), labels=torch.tensor([ex["labels"]])).loss
                total, count = total + float(loss) * n, count + n
            packed = {
                k: torch.tensor(v) if isinstance(v, list) else v
                for k, v in model_inputs(pack_batch([examples])).items()
            }
            packed_loss = float(model(**packed).loss)
            packed["position_ids"] = torch.arange(packed["input_ids"].shape[1]).unsqueeze(0)
            crossing_loss = float(model(**packed).loss)
    finally:
        model.set_attn_implementation(before)
    assert packed_loss == pytest.approx(total / count, abs=1e-4)
    assert abs(crossing_loss - total / count) > 1e-3


def test_training_with_packing_lowers_the_loss(embedded, tmp_path):
    from voiced.trainer.callbacks import RecordingProgress
    from voiced.trainer.training import train

    model, tokenizer = embedded
    train_set = varied_examples(tokenizer, 12)
    recorder = RecordingProgress()
    result = train(
        model,
        train_set,
        [],
        fast_settings(epochs=4, batch_size=2, batching="pack"),
        tmp_path / "run",
        progress=recorder,
    )
    rows = packed_rows(train_set)
    assert rows < len(train_set) and result.steps == result.total_steps == -(-rows // 2) * 4
    assert recorder.events[0]["batching"] == "pack"
    assert result.tokens == 4 * sum(len(e["input_ids"]) for e in train_set)
    first, last = sum(result.train_losses[:2]) / 2, sum(result.train_losses[-2:]) / 2
    assert last < first - 0.3, result.train_losses


class _IgnoresPositions:
    """A model whose forward drops position_ids: packed examples would see each other."""

    def __init__(self, model) -> None:
        self.model = model
        self.training = model.training

    def parameters(self):
        return self.model.parameters()

    def eval(self):
        self.model.eval()

    def train(self, mode: bool = True):
        self.model.train(mode)

    def __call__(self, position_ids=None, **kwargs):
        return self.model(**kwargs)


def test_packing_is_used_only_where_the_model_keeps_examples_apart(embedded):
    from voiced.trainer.peft_backend import keeps_packed_examples_apart

    model, _ = embedded
    assert keeps_packed_examples_apart(model)
    assert not keeps_packed_examples_apart(_IgnoresPositions(model))


def test_batching_accepts_only_known_values():
    assert config_from_dict({"training": {"batching": "bucket"}}).training.batching == "bucket"
    with pytest.raises(ConfigError, match="training.batching"):
        config_from_dict({"training": {"batching": "sorted"}})
