"""The GGUF LoRA export is right only if llama.cpp, running it on the GGUF base,
computes what PEFT computes: this compares next-token logits of both runtimes on
the real embedded model, with a real adapter whose B matrices are non-zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lora_parity_support import corr, llama_logits

from voiced.config import EMBEDDED_MODEL
from voiced.models import embedded_model_path
from voiced.trainer.base_model import load_base_model
from voiced.trainer.gguf_lora import export_gguf_lora

PROMPT = "She had been forced into prudence in her youth, she learned romance as she grew older."
ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
B_STD = 0.1
QK_GAIN = 2.5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Logits of both runtimes: base, a 7-module adapter, and the same adapter on Q/K only."""
    from peft import LoraConfig, get_peft_model

    work = tmp_path_factory.mktemp("parity")
    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    torch.manual_seed(7)  # A's initialisation
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=ALL_MODULES)
    peft_model = get_peft_model(model, config).eval()
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * B_STD)
    ids = tokenizer(PROMPT).input_ids
    assert tokenizer.bos_token_id is None or ids[0] != tokenizer.bos_token_id

    def hf_logits(adapted) -> np.ndarray:
        # The model is an argument, not a closure over ``peft_model``: that name is deleted below to free memory.
        with torch.no_grad():
            return adapted(torch.tensor([ids])).logits[0].double().numpy()

    out = {"ids": ids}
    with peft_model.disable_adapter():
        out["hf_base"] = hf_logits(peft_model)
    out["hf_full"] = hf_logits(peft_model)
    full_dir = work / "full"
    peft_model.save_pretrained(full_dir, safe_serialization=True)

    # The same adapter with every B but Q's and K's zeroed (and those amplified, so the
    # update stands well above the Q4_1 noise): the permutation alone decides the result.
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(QK_GAIN if any(m in name for m in ("q_proj", "k_proj")) else 0.0)
    out["hf_qk"] = hf_logits(peft_model)
    qk_dir = work / "qk"
    peft_model.save_pretrained(qk_dir, safe_serialization=True)
    del peft_model, model

    base = embedded_model_path()
    exports = {
        "full": export_gguf_lora(full_dir, base, work / "full.gguf"),
        "qk": export_gguf_lora(qk_dir, base, work / "qk.gguf"),
        "qk_unpermuted": export_gguf_lora(qk_dir, base, work / "qk-unpermuted.gguf", permute_qk=False),
    }
    out["ll_base"] = llama_logits(base, ids)
    for name, path in exports.items():
        out[f"ll_{name}"] = llama_logits(base, ids, path)
    return out


def _report(runs, hf: str, ll: str) -> dict[str, float]:
    a, b = runs[hf], runs[ll]
    delta_hf, delta_ll = a - runs["hf_base"], b - runs["ll_base"]
    figures = {
        "logit_corr": corr(a, b),
        "delta_corr": corr(delta_hf, delta_ll),
        "argmax_agree": float(np.mean(a.argmax(-1) == b.argmax(-1))),
        "max_abs_diff": float(np.abs(a - b).max()),
        "delta_rms_hf": float(np.sqrt(np.mean(delta_hf**2))),
    }
    print(f"{hf} vs {ll}: " + ", ".join(f"{k}={v:.4f}" for k, v in figures.items()))
    return figures


def test_base_models_agree(runs):
    """Sanity: without adapters the de-quantised base and llama.cpp's Q4_1 base agree."""
    base_corr = corr(runs["hf_base"], runs["ll_base"])
    print(
        f"base: logit_corr={base_corr:.4f}, max_abs_diff={np.abs(runs['hf_base'] - runs['ll_base']).max():.4f}, "
        f"rms_diff={np.sqrt(np.mean((runs['hf_base'] - runs['ll_base']) ** 2)):.4f}"
    )
    assert base_corr > 0.995
    assert np.mean(runs["hf_base"].argmax(-1) == runs["ll_base"].argmax(-1)) >= 0.85


def test_adapter_on_every_projection_matches_peft(runs):
    figures = _report(runs, "hf_full", "ll_full")
    assert figures["delta_rms_hf"] > 1.0, "the adapter must change the logits measurably"
    assert figures["logit_corr"] > 0.99
    assert figures["delta_corr"] > 0.95
    assert figures["argmax_agree"] >= 0.85
    # Both runtimes really apply the adapter: each differs clearly from its own base.
    assert corr(runs["ll_full"] - runs["ll_base"], runs["ll_base"]) < 0.9
    assert np.abs(runs["ll_full"] - runs["ll_base"]).max() > 1.0


def test_query_key_adapter_needs_the_rotary_permutation(runs):
    permuted = _report(runs, "hf_qk", "ll_qk")
    unpermuted = _report(runs, "hf_qk", "ll_qk_unpermuted")
    print(f"qk_only_delta_rms_hf={permuted['delta_rms_hf']:.4f}")
    assert permuted["delta_rms_hf"] > 1.0
    assert permuted["delta_corr"] > 0.9
    assert unpermuted["delta_corr"] < 0.6
    assert unpermuted["delta_corr"] < permuted["delta_corr"] - 0.3
