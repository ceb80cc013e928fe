"""The response-only loss equals the model's own loss, and its gradients the model's, on padded and packed batches."""

from __future__ import annotations

import pytest
from data_support import austen_paragraphs
from train_support import fast_settings, load_embedded

from voiced.trainer.peft_backend import lora_config, to_tensors
from voiced.trainer.response_loss import has_plain_head, response_loss
from voiced.trainer.tokenize import IGNORE_INDEX, epoch_batches


@pytest.fixture(scope="module")
def peft_model():
    import torch
    from peft import get_peft_model

    torch.set_num_threads(1)
    model, tokenizer = load_embedded()
    torch.manual_seed(0)
    wrapped = get_peft_model(model, lora_config(fast_settings()))
    # LoRA's B starts at zero, which would leave the A gradients zero: give B values so both are tested.
    for name, parameter in wrapped.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    wrapped.eval()  # no dropout: the two losses see the same network
    yield wrapped, tokenizer
    wrapped.unload()


def prompt_and_response_examples(tokenizer) -> list[dict]:
    """Real passages with a long masked prompt (half the tokens or more), as in rewrite examples."""
    out = []
    for i, text in enumerate(austen_paragraphs(min_words=15)[:8]):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][: 20 + 5 * i]
        prompt = len(ids) // 2 + i
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return out


def gradients(model) -> dict:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("batching", ["bucket", "pack"])
def test_response_loss_and_gradients_equal_the_models_own(peft_model, batching):
    model, tokenizer = peft_model
    assert has_plain_head(model)
    for batch in epoch_batches(prompt_and_response_examples(tokenizer), 4, batching, seed=1):
        tensors = to_tensors(batch, "cpu")
        model.zero_grad(set_to_none=True)
        own = model(**tensors).loss
        own.backward()
        expected = gradients(model)
        model.zero_grad(set_to_none=True)
        ours = response_loss(model, tensors)
        ours.backward()
        got = gradients(model)
        assert abs(float(ours.detach()) - float(own.detach())) < 1e-5 * max(1.0, float(own.detach()))
        for name, grad in expected.items():
            scale = float(grad.abs().max())
            assert scale > 0, name
            assert float((got[name] - grad).abs().max()) <= 1e-4 * scale, name
    model.zero_grad(set_to_none=True)


def test_other_heads_keep_the_models_own_loss(peft_model, monkeypatch):
    model, tokenizer = peft_model
    inner = model.get_base_model()
    monkeypatch.setattr(inner.config, "model_type", "gemma2")  # soft-capped logits: the head is not plain
    assert not has_plain_head(model)
    batch = epoch_batches(prompt_and_response_examples(tokenizer), 4, "bucket", seed=1)[0]
    tensors = to_tensors(batch, "cpu")
    calls = []
    original = type(model).forward

    def counting_forward(self, *args, **kwargs):
        calls.append(kwargs.get("labels") is not None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", counting_forward)
    response_loss(model, tensors)
    assert calls == [True]  # the whole model ran, with its labels


def unchunked_loss(model, tensors):
    """The head on every labelled position at once (the trainer's loss before it was chunked)."""
    import torch

    inner = model.get_base_model()
    hidden = inner.model(**{k: v for k, v in tensors.items() if k != "labels"}).last_hidden_state
    targets = tensors["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    return torch.nn.functional.cross_entropy(inner.lm_head(hidden[:, :-1][keep]).float(), targets[keep])


@pytest.mark.parametrize("chunk_rows", [7, 64, None])
def test_the_chunked_head_equals_the_whole_head_in_value_and_gradients(peft_model, chunk_rows):
    model, tokenizer = peft_model
    batch = epoch_batches(prompt_and_response_examples(tokenizer), 8, "bucket", seed=1)[0]
    tensors = to_tensors(batch, "cpu")
    assert int((tensors["labels"][:, 1:] != IGNORE_INDEX).sum()) > 64  # several chunks of 7 and of 64
    model.zero_grad(set_to_none=True)
    whole = unchunked_loss(model, tensors)
    whole.backward()
    expected = gradients(model)
    model.zero_grad(set_to_none=True)
    chunked = response_loss(model, tensors, chunk_rows=chunk_rows)
    chunked.backward()
    got = gradients(model)
    assert chunked.dtype == whole.dtype
    assert abs(float(chunked.detach()) - float(whole.detach())) <= 1e-6 * float(whole.detach())
    for name, grad in expected.items():
        assert float((got[name] - grad).abs().max()) <= 1e-5 * float(grad.abs().max()), name
    model.zero_grad(set_to_none=True)


def test_the_chunked_head_without_gradients_and_under_bf16_autocast(peft_model):
    import torch

    model, tokenizer = peft_model
    batch = epoch_batches(prompt_and_response_examples(tokenizer), 8, "bucket", seed=1)[0]
    tensors = to_tensors(batch, "cpu")
    with torch.no_grad():
        assert float(response_loss(model, tensors, chunk_rows=7)) == pytest.approx(
            float(unchunked_loss(model, tensors)), rel=1e-6
        )
    # under autocast both run the head in bf16; the chunked one's value and gradients stay close
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        whole = unchunked_loss(model, tensors)
    whole.backward()
    expected = gradients(model)
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunked = response_loss(model, tensors, chunk_rows=7)
    chunked.backward()
    got = gradients(model)
    assert chunked.dtype == torch.float32
    assert float(chunked.detach()) == pytest.approx(float(whole.detach()), rel=1e-3)
    for name, grad in expected.items():
        assert float((got[name] - grad).abs().max()) <= 0.05 * float(grad.abs().max()), name
    model.zero_grad(set_to_none=True)


def test_a_scaled_loss_scales_the_chunked_gradients(peft_model):
    model, tokenizer = peft_model
    tensors = to_tensors(epoch_batches(prompt_and_response_examples(tokenizer), 4, "bucket", seed=1)[0], "cpu")
    model.zero_grad(set_to_none=True)
    response_loss(model, tensors, chunk_rows=7).backward()
    once = gradients(model)
    model.zero_grad(set_to_none=True)
    (response_loss(model, tensors, chunk_rows=7) * 3).backward()
    thrice = gradients(model)
    for name, grad in once.items():
        assert float((thrice[name] - 3 * grad).abs().max()) <= 1e-5 * float(grad.abs().max()) * 3, name
    model.zero_grad(set_to_none=True)
