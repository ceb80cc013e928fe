"""Small real adapters for the embedded model, and registry versions made from them.

The PEFT files are what training saves (safetensors + adapter_config.json); the GGUF LoRA is
exported from them by the product's own exporter against the embedded base, so every validator
and runtime can read them, and the GGUF the engine loads is the one a rebuild writes. Two sizes:
:func:`real_adapter` (rank 2 on layer 0, tiny weights) for the registry, and :func:`strong_adapter`
(rank 8 on every third layer) whose update visibly changes greedy rewrites, for what the daemon serves.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from engine_support import gguf_lora_file

HIDDEN, KV = 576, 192  # SmolLM2-135M: hidden size and the K/V projection width (3 KV heads x 64)


def peft_adapter(
    folder: Path,
    seed: int = 0,
    rank: int = 2,
    *,
    layers: range = range(1),
    scale: float = 0.02,
    alpha: int | None = None,
) -> Path:
    """A PEFT LoRA on q_proj and v_proj of ``layers`` with random weights of standard deviation ``scale``.

    ``alpha`` defaults to twice the rank.
    """
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for layer in layers:
        prefix = f"base_model.model.model.layers.{layer}.self_attn"
        for module, out in (("q_proj", HIDDEN), ("v_proj", KV)):
            tensors[f"{prefix}.{module}.lora_A.weight"] = rng.normal(0, scale, (rank, HIDDEN)).astype(np.float32)
            tensors[f"{prefix}.{module}.lora_B.weight"] = rng.normal(0, scale, (out, rank)).astype(np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "r": rank,
                "lora_alpha": 2 * rank if alpha is None else alpha,
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


def strong_peft(folder: Path, seed: int) -> Path:
    """A PEFT LoRA whose update is big enough to change the embedded model's greedy output."""
    return peft_adapter(folder, seed, rank=8, layers=range(0, 30, 3), scale=0.25, alpha=8)


_EXPORTED: dict[tuple[str, int], Path] = {}  # (size, seed) -> a folder exported in this process (reading is slow)


def _exported(folder: Path, seed: int, size: str) -> Path:
    from voiced.models import embedded_model_path
    from voiced.trainer.gguf_lora import export_gguf_lora

    if (size, seed) not in _EXPORTED:
        cached = Path(tempfile.mkdtemp(prefix="voiced-adapter-")) / str(seed)
        (peft_adapter if size == "small" else strong_peft)(cached, seed)
        export_gguf_lora(cached, embedded_model_path(), cached / "adapter.gguf")
        _EXPORTED[(size, seed)] = cached
    shutil.copytree(_EXPORTED[(size, seed)], folder, dirs_exist_ok=True)
    return folder


def real_adapter(folder: Path, seed: int = 0) -> Path:
    """A :func:`peft_adapter` folder that also holds ``adapter.gguf``, exported for the embedded base."""
    return _exported(folder, seed, "small")


def strong_adapter(folder: Path, seed: int) -> Path:
    """:func:`strong_peft` plus its GGUF LoRA (``adapter.gguf``) exported for the embedded base."""
    return _exported(folder, seed, "strong")


def finish(
    registry,
    source: Path,
    status: str = "candidate",
    *,
    gguf: bool = True,
    reason: str = "",
    mlx_dir: Path | None = None,
    base_kind: str = "gguf",
):
    """Begin and finish a version from ``source`` (a :func:`real_adapter` folder)."""
    version = registry.begin_version({"base_model": {"kind": base_kind}})
    return registry.finish_version(
        version,
        source,
        source / "adapter.gguf" if gguf else None,
        {"status": status, "reason": reason},
        mlx_dir=mlx_dir,
    )


def add_version(voice: str, source: Path, *, gguf: bool = True, base_kind: str = "gguf") -> int:
    """A finished candidate version of ``voice`` made from ``source``; returns its number."""
    from voiced.registry import Registry

    return finish(Registry.open(voice), source, gguf=gguf, base_kind=base_kind).number


def damage(path: Path) -> None:
    """Overwrite a file with bytes no reader accepts (what a bad disk or an interrupted copy leaves)."""
    path.write_bytes(b"GGUF" + b"\x07" * 200)


def misshapen_gguf(path: Path) -> Path:
    """A GGUF LoRA that passes the structural check but whose shapes fit no SmolLM2 matrix: llama.cpp refuses it."""
    tensors = {
        "blk.0.attn_q.weight.lora_a": np.ones((8, 100), dtype=np.float32),
        "blk.0.attn_q.weight.lora_b": np.ones((100, 8), dtype=np.float32),
    }
    return gguf_lora_file(path, tensors, alpha=8.0)
