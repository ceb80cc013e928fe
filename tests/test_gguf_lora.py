"""GGUF LoRA export: layout read back with the real gguf reader, the rotary
permutation, scaling, and clear refusals that leave nothing behind."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader
from safetensors.numpy import save_file

from voiced.models import embedded_model_path
from voiced.trainer.gguf_lora import GGUFExportError, export_gguf_lora, permute_rotary_rows

SHAPES = {  # SmolLM2-135M: hidden 576, 9 query heads and 3 key/value heads of 64, MLP 1536
    "self_attn.q_proj": (576, 576),
    "self_attn.k_proj": (576, 192),
    "self_attn.v_proj": (576, 192),
    "self_attn.o_proj": (576, 576),
    "mlp.gate_proj": (576, 1536),
    "mlp.up_proj": (576, 1536),
    "mlp.down_proj": (1536, 576),
}
RANK = 4


def _write_adapter(folder: Path, tensors: dict[str, np.ndarray], **config) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"r": RANK, "lora_alpha": 8, **config}))
    return folder


def _pairs(layer: int = 2, modules=SHAPES, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for module in modules:
        n_in, n_out = SHAPES[module]
        prefix = f"base_model.model.model.layers.{layer}.{module}"
        out[f"{prefix}.lora_A.weight"] = rng.normal(size=(RANK, n_in)).astype(np.float32)
        out[f"{prefix}.lora_B.weight"] = rng.normal(size=(n_out, RANK)).astype(np.float32)
    return out


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    reader = GGUFReader(str(path))
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    tensors = {t.name: np.array(t.data).reshape([int(n) for n in reversed(t.shape)]) for t in reader.tensors}
    return fields, tensors


def test_layout_names_and_metadata(tmp_path: Path):
    source = _pairs()
    out = export_gguf_lora(_write_adapter(tmp_path / "a", source), embedded_model_path(), tmp_path / "lora.gguf")
    fields, tensors = _read(out)
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == pytest.approx(8.0)
    assert fields["general.architecture"] == "llama"
    expected_names = {
        f"blk.2.{n}.weight.lora_{w}"
        for n in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
        for w in "ab"
    }
    assert set(tensors) == expected_names
    peft = "base_model.model.model.layers.2."
    # A is (r, in) and B is (out, r), untransposed; V, O and the MLP are copied as they are.
    np.testing.assert_array_equal(tensors["blk.2.ffn_down.weight.lora_a"], source[peft + "mlp.down_proj.lora_A.weight"])
    np.testing.assert_array_equal(
        tensors["blk.2.attn_v.weight.lora_b"], source[peft + "self_attn.v_proj.lora_B.weight"]
    )
    np.testing.assert_array_equal(
        tensors["blk.2.attn_q.weight.lora_a"], source[peft + "self_attn.q_proj.lora_A.weight"]
    )
    # Q's rows are permuted over 9 heads and K's over 3.
    np.testing.assert_array_equal(
        tensors["blk.2.attn_q.weight.lora_b"], permute_rotary_rows(source[peft + "self_attn.q_proj.lora_B.weight"], 9)
    )
    np.testing.assert_array_equal(
        tensors["blk.2.attn_k.weight.lora_b"], permute_rotary_rows(source[peft + "self_attn.k_proj.lora_B.weight"], 3)
    )
    assert out.stat().st_mode & 0o077 == 0


def test_rotary_permutation_interleaves_the_halves_of_each_head():
    rows = np.arange(12)  # 2 heads of 6 rows: halves [0 1 2][3 4 5], [6 7 8][9 10 11]
    assert permute_rotary_rows(rows, 2).tolist() == [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]
    with pytest.raises(GGUFExportError, match="rotary heads"):
        permute_rotary_rows(np.arange(10), 3)


def test_rslora_and_alpha_pattern_scales_are_carried_in_b(tmp_path: Path):
    source = _pairs(modules=["self_attn.v_proj", "self_attn.o_proj"])
    adapter = _write_adapter(tmp_path / "a", source, use_rslora=True, alpha_pattern={"o_proj": 2})
    _, tensors = _read(export_gguf_lora(adapter, embedded_model_path(), tmp_path / "lora.gguf"))
    llama_scale = 8 / RANK  # what llama.cpp applies: alpha / r
    peft = "base_model.model.model.layers.2.self_attn."
    for module, peft_scale in (("v_proj", 8 / math.sqrt(RANK)), ("o_proj", 2 / math.sqrt(RANK))):
        name = {"v_proj": "attn_v", "o_proj": "attn_output"}[module]
        np.testing.assert_allclose(
            llama_scale * tensors[f"blk.2.{name}.weight.lora_b"],
            peft_scale * source[f"{peft}{module}.lora_B.weight"],
            rtol=1e-6,
        )


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        (
            {"base_model.model.model.embed_tokens.lora_A.weight": np.zeros((4, 8), np.float32)},
            "only LoRA on decoder layers",
        ),
        (
            {"base_model.model.model.layers.0.self_attn.rotary.lora_A.weight": np.zeros((4, 8), np.float32)},
            "cannot be exported",
        ),
        (
            {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((4, 576), np.float32)},
            "without its partner",
        ),
        (
            {
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((4, 100), np.float32),
                "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((576, 4), np.float32),
            },
            "another model",
        ),
        (
            {
                "base_model.model.model.layers.99.self_attn.q_proj.lora_A.weight": np.zeros((4, 576), np.float32),
                "base_model.model.model.layers.99.self_attn.q_proj.lora_B.weight": np.zeros((576, 4), np.float32),
            },
            "another model",
        ),
    ],
)
def test_unsupported_adapters_are_refused_and_nothing_is_written(tmp_path: Path, tensors, message):
    adapter = _write_adapter(tmp_path / "a", tensors)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(GGUFExportError, match=message):
        export_gguf_lora(adapter, embedded_model_path(), out_dir / "lora.gguf")
    assert list(out_dir.iterdir()) == []


def test_dora_and_missing_files_are_refused(tmp_path: Path):
    adapter = _write_adapter(tmp_path / "a", _pairs(modules=["self_attn.v_proj"]), use_dora=True)
    with pytest.raises(GGUFExportError, match="DoRA"):
        export_gguf_lora(adapter, embedded_model_path(), tmp_path / "x.gguf")
    with pytest.raises(GGUFExportError, match="incomplete"):
        export_gguf_lora(tmp_path / "nowhere", embedded_model_path(), tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_a_failed_export_keeps_the_previous_file(tmp_path: Path):
    good = export_gguf_lora(
        _write_adapter(tmp_path / "a", _pairs(modules=["self_attn.v_proj"])),
        embedded_model_path(),
        tmp_path / "lora.gguf",
    )
    before = good.read_bytes()
    bad = _write_adapter(
        tmp_path / "b",
        {
            "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": np.zeros((4, 100), np.float32),
            "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": np.zeros((192, 4), np.float32),
        },
    )
    with pytest.raises(GGUFExportError):
        export_gguf_lora(bad, embedded_model_path(), tmp_path / "lora.gguf")
    assert good.read_bytes() == before
