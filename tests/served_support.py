"""Registry versions that visibly change the embedded model's rewrites, for the tests of what the daemon serves.

The PEFT adapter is written the way training saves it (safetensors +
adapter_config.json) with weights large enough that greedy decoding changes;
its GGUF LoRA is exported by the product's own exporter against the embedded
base, so the GGUF the engine loads and the one a rebuild writes are the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HIDDEN, KV = 576, 192  # SmolLM2-135M: hidden size and the K/V projection width


def strong_peft(folder: Path, seed: int, rank: int = 8, layers: range = range(0, 30, 3)) -> Path:
    """A PEFT LoRA on q_proj and v_proj of ``layers`` whose update is big enough to change greedy output."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for layer in layers:
        prefix = f"base_model.model.model.layers.{layer}.self_attn"
        for module, out in (("q_proj", HIDDEN), ("v_proj", KV)):
            tensors[f"{prefix}.{module}.lora_A.weight"] = rng.normal(0, 0.25, (rank, HIDDEN)).astype(np.float32)
            tensors[f"{prefix}.{module}.lora_B.weight"] = rng.normal(0, 0.25, (out, rank)).astype(np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "r": rank,
                "lora_alpha": rank,
                "lora_dropout": 0.0,
                "target_modules": ["q_proj", "v_proj"],
                "bias": "none",
                "use_rslora": False,
                "use_dora": False,
                "fan_in_fan_out": False,
                "inference_mode": True,
            }
        )
    )
    return folder


def strong_adapter(folder: Path, seed: int) -> Path:
    """:func:`strong_peft` plus its GGUF LoRA (``adapter.gguf``) exported for the embedded base."""
    from voiced.models import embedded_model_path
    from voiced.trainer.gguf_lora import export_gguf_lora

    strong_peft(folder, seed)
    export_gguf_lora(folder, embedded_model_path(), folder / "adapter.gguf")
    return folder


def add_version(voice: str, source: Path, *, gguf: bool = True, base_kind: str = "gguf") -> int:
    """A finished candidate version of ``voice`` made from ``source``; returns its number."""
    from voiced.registry import Registry

    registry = Registry.open(voice)
    version = registry.begin_version({"base_model": {"kind": base_kind}})
    registry.finish_version(version, source, source / "adapter.gguf" if gguf else None, {"status": "candidate"})
    return version.number


def damage(path: Path) -> None:
    """Overwrite a file with bytes no reader accepts (what a bad disk or an interrupted copy leaves)."""
    path.write_bytes(b"GGUF" + b"\x07" * 200)


def misshapen_gguf(path: Path) -> Path:
    """A GGUF LoRA that passes the structural check but whose shapes fit no SmolLM2 matrix: llama.cpp refuses it."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 8.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.ones((8, 100), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.ones((100, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
