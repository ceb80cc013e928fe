"""Exports for other tools: an Ollama Modelfile over the GGUF base, and a merged
safetensors model that gives the same logits as base + adapter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from voiced.config import EMBEDDED_MODEL
from voiced.models import embedded_model_path
from voiced.trainer.base_model import load_base_model, load_tokenizer
from voiced.trainer.gguf_lora import export_gguf_lora
from voiced.trainer.merge_export import ExportError, export_merged, export_ollama


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny random Llama saved as a local safetensors folder with the embedded tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-base")
    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def test_merged_model_matches_base_plus_adapter(tiny_base: Path, tmp_path: Path):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_base_model(str(tiny_base))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)
    peft_model.save_pretrained(tmp_path / "adapter", safe_serialization=True)
    ids = torch.tensor([tokenizer("A quiet evening at Kellynch.").input_ids])
    with torch.no_grad():
        expected = peft_model.eval()(ids).logits
    out = export_merged(tmp_path / "adapter", str(tiny_base), tmp_path / "merged")
    assert sorted(p.name for p in out.glob("*.safetensors"))
    assert not list(out.glob("*.bin"))
    assert all(p.stat().st_mode & 0o077 == 0 for p in out.iterdir())
    merged, merged_tokenizer = load_base_model(str(out))
    with torch.no_grad():
        got = merged(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert merged_tokenizer("A quiet evening at Kellynch.").input_ids == ids[0].tolist()

    # A second export replaces the first and leaves no staging folders behind.
    export_merged(tmp_path / "adapter", str(tiny_base), tmp_path / "merged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "merged"]


def test_merge_refuses_a_folder_without_safetensors(tiny_base: Path, tmp_path: Path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(ExportError, match="safetensors"):
        export_merged(tmp_path / "adapter", str(tiny_base), tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_ollama_modelfile_points_at_the_base_and_the_adapter(tmp_path: Path, tiny_base: Path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    rng = np.random.default_rng(0)
    save_file(
        {
            "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": rng.normal(size=(4, 576)).astype(
                np.float32
            ),
            "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": rng.normal(size=(192, 4)).astype(
                np.float32
            ),
        },
        str(adapter / "adapter_model.safetensors"),
    )
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    lora = export_gguf_lora(adapter, embedded_model_path(), tmp_path / "lora.gguf")

    modelfile = export_ollama(adapter, lora, EMBEDDED_MODEL, tmp_path / "ollama", system_prompt="Write as I do.")
    lines = modelfile.read_text().splitlines()
    assert lines[0] == f"FROM {embedded_model_path()}"
    assert lines[1] == "ADAPTER ./adapter.gguf"
    assert lines[2] == 'SYSTEM """Write as I do."""'
    assert (modelfile.parent / "adapter.gguf").read_bytes() == lora.read_bytes()

    with pytest.raises(ExportError, match="GGUF base"):
        export_ollama(adapter, lora, str(tiny_base), tmp_path / "ollama2")
    with pytest.raises(ExportError, match="export the adapter to GGUF first"):
        export_ollama(adapter, tmp_path / "missing.gguf", EMBEDDED_MODEL, tmp_path / "ollama3")
    assert not (tmp_path / "ollama2").exists() and not (tmp_path / "ollama3").exists()


def test_merged_gguf_runs_like_base_plus_lora_in_llama_cpp(tmp_path: Path):
    from gguf import GGUFReader

    from voiced.inference.llama_runtime import open_llama
    from voiced.trainer.merge_export import export_merged_gguf

    rng = np.random.default_rng(3)
    shapes = {"self_attn.q_proj": (576, 576), "self_attn.k_proj": (576, 192), "mlp.down_proj": (1536, 576)}
    tensors = {}
    for layer in (0, 7):
        for module, (n_in, n_out) in shapes.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{prefix}.lora_A.weight"] = (rng.normal(size=(4, n_in)) / np.sqrt(n_in)).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = rng.normal(scale=1.0, size=(n_out, 4)).astype(np.float32)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    save_file(tensors, str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    lora = export_gguf_lora(adapter, embedded_model_path(), tmp_path / "lora.gguf")
    merged = export_merged_gguf(adapter, EMBEDDED_MODEL, tmp_path / "merged.gguf")

    base_fields, merged_fields = GGUFReader(str(embedded_model_path())).fields, GGUFReader(str(merged)).fields
    assert merged_fields["tokenizer.chat_template"].contents() == base_fields["tokenizer.chat_template"].contents()
    assert merged_fields["tokenizer.ggml.tokens"].contents() == base_fields["tokenizer.ggml.tokens"].contents()

    def logits(model: Path, lora_path: Path | None) -> np.ndarray:
        llm = open_llama(model, lora_path=lora_path, n_ctx=64, logits_all=True)
        try:
            ids = llm.tokenize(b"Anne walked to the window and looked out at the rain.", add_bos=False)
            llm.eval(ids)
            return np.array(llm.scores[: len(ids)])
        finally:
            llm.close()

    with_lora, from_merged, base = (
        logits(embedded_model_path(), lora),
        logits(merged, None),
        logits(embedded_model_path(), None),
    )
    delta_lora, delta_merged = with_lora - base, from_merged - base
    assert np.sqrt(np.mean(delta_lora**2)) > 2.0, "the adapter must change the logits"
    # What remains is the float32 merged matrices against Q4_1 products (about 0.25 rms
    # with an all-zero adapter), far below the adapter's own effect.
    assert np.sqrt(np.mean((with_lora - from_merged) ** 2)) < 0.5
    assert np.corrcoef(delta_lora.ravel(), delta_merged.ravel())[0, 1] > 0.97
    assert np.mean(with_lora.argmax(-1) == from_merged.argmax(-1)) >= 0.75
