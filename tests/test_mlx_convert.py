"""MLX <-> PEFT adapter conversion: exact round trips, the same weight update,
and a converted adapter that real PEFT loads onto a tiny Llama built here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from voiced.trainer.mlx_convert import AdapterConversionError, mlx_to_peft, peft_to_mlx

N_LAYERS = 3


@pytest.fixture()
def tiny_peft(tmp_path: Path):
    """A tiny random Llama and a PEFT adapter on it with non-zero B (on the last two layers)."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    base = LlamaForCausalLM(config).eval()
    lora = LoraConfig(
        r=4,
        lora_alpha=12,
        lora_dropout=0.0,
        layers_to_transform=[1, 2],
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    model = get_peft_model(base, lora).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(tmp_path / "peft", safe_serialization=True)
    ids = torch.tensor([[3, 14, 15, 9, 26, 5]])
    with torch.no_grad():
        logits = model(ids).logits
    model.unload()
    return tmp_path / "peft", base, ids, logits


def test_mlx_layout_and_same_update(tiny_peft, tmp_path: Path):
    peft_dir = tiny_peft[0]
    peft_to_mlx(peft_dir, tmp_path / "mlx", n_layers=N_LAYERS)
    mlx = load_file(str(tmp_path / "mlx" / "adapters.safetensors"))
    config = json.loads((tmp_path / "mlx" / "adapter_config.json").read_text())
    assert config["fine_tune_type"] == "lora"
    assert config["num_layers"] == 2
    assert config["lora_parameters"]["rank"] == 4
    assert config["lora_parameters"]["scale"] == pytest.approx(3.0)
    assert "self_attn.q_proj" in config["lora_parameters"]["keys"]

    peft = load_file(str(peft_dir / "adapter_model.safetensors"))
    a = mlx["model.layers.1.self_attn.q_proj.lora_a"]
    b = mlx["model.layers.1.self_attn.q_proj.lora_b"]
    assert a.shape == (32, 4) and b.shape == (4, 32)
    big_a = peft["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"]
    big_b = peft["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"]
    x = np.random.default_rng(1).normal(size=(5, 32)).astype(np.float32)
    # mlx-lm adds scale * (x @ a) @ b; PEFT adds alpha / r * x @ A.T @ B.T.
    np.testing.assert_allclose(3.0 * (x @ a) @ b, (12 / 4) * x @ big_a.T @ big_b.T, rtol=1e-5, atol=1e-5)


def test_peft_mlx_peft_round_trip_is_identical(tiny_peft, tmp_path: Path):
    peft_dir = tiny_peft[0]
    peft_to_mlx(peft_dir, tmp_path / "mlx", n_layers=N_LAYERS)
    mlx_to_peft(tmp_path / "mlx", tmp_path / "back")
    before = load_file(str(peft_dir / "adapter_model.safetensors"))
    after = load_file(str(tmp_path / "back" / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    config = json.loads((tmp_path / "back" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["layers_to_transform"]) == (4, 12.0, [1, 2])
    assert (tmp_path / "back" / "adapter_model.safetensors").stat().st_mode & 0o077 == 0


def test_converted_adapter_loads_in_peft_with_the_same_logits(tiny_peft, tmp_path: Path):
    from peft import PeftModel

    peft_dir, base, ids, logits = tiny_peft
    peft_to_mlx(peft_dir, tmp_path / "mlx", n_layers=N_LAYERS)
    mlx_to_peft(tmp_path / "mlx", tmp_path / "back")
    reloaded = PeftModel.from_pretrained(base, tmp_path / "back").eval()
    with torch.no_grad():
        again = reloaded(ids).logits
    torch.testing.assert_close(again, logits)


def test_rslora_scale_is_folded_for_mlx(tmp_path: Path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(8, 4)).astype(np.float32)
    folder = tmp_path / "rs"
    folder.mkdir()
    save_file(
        {
            "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": a,
            "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": b,
        },
        str(folder / "adapter_model.safetensors"),
    )
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8, "use_rslora": True}))
    peft_to_mlx(folder, tmp_path / "mlx", n_layers=1)
    mlx = load_file(str(tmp_path / "mlx" / "adapters.safetensors"))
    scale = json.loads((tmp_path / "mlx" / "adapter_config.json").read_text())["lora_parameters"]["scale"]
    update = scale * (mlx["model.layers.0.self_attn.v_proj.lora_a"] @ mlx["model.layers.0.self_attn.v_proj.lora_b"]).T
    np.testing.assert_allclose(update, 8 / math.sqrt(4) * b @ a, rtol=1e-5)


def test_bad_mlx_adapters_are_refused(tmp_path: Path):
    folder = tmp_path / "mlx"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"fine_tune_type": "full", "num_layers": 2}))
    save_file(
        {"model.layers.0.self_attn.q_proj.weight": np.zeros((2, 2), np.float32)}, str(folder / "adapters.safetensors")
    )
    with pytest.raises(AdapterConversionError, match="Only LoRA"):
        mlx_to_peft(folder, tmp_path / "out")
    (folder / "adapter_config.json").write_text(json.dumps({"lora_parameters": {"rank": 2, "scale": 2.0}}))
    with pytest.raises(AdapterConversionError, match="Unsupported MLX adapter tensor"):
        mlx_to_peft(folder, tmp_path / "out")
    save_file(
        {"model.layers.0.self_attn.q_proj.lora_a": np.zeros((8, 3), np.float32)}, str(folder / "adapters.safetensors")
    )
    with pytest.raises(AdapterConversionError, match="does not fit rank 2"):
        mlx_to_peft(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()
