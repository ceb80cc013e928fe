"""Small real adapters for registry tests: a PEFT LoRA for the embedded model and its GGUF LoRA.

The PEFT files are what training saves (safetensors + adapter_config.json, rank 2
on two matrices of layer 0); the GGUF is exported from them by the product's own
exporter against the embedded base, so every validator and runtime can read them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HIDDEN, KV = 576, 192  # SmolLM2-135M: hidden size and the K/V projection width (3 KV heads x 64)


def peft_adapter(folder: Path, seed: int = 0, rank: int = 2) -> Path:
    """A PEFT LoRA on layer 0's q_proj and v_proj, with small random weights."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "base_model.model.model.layers.0.self_attn"
    tensors = {
        f"{prefix}.q_proj.lora_A.weight": rng.normal(0, 0.02, (rank, HIDDEN)).astype(np.float32),
        f"{prefix}.q_proj.lora_B.weight": rng.normal(0, 0.02, (HIDDEN, rank)).astype(np.float32),
        f"{prefix}.v_proj.lora_A.weight": rng.normal(0, 0.02, (rank, HIDDEN)).astype(np.float32),
        f"{prefix}.v_proj.lora_B.weight": rng.normal(0, 0.02, (KV, rank)).astype(np.float32),
    }
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "r": rank,
                "lora_alpha": 2 * rank,
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


_EXPORTED: dict[int, Path] = {}  # seed -> a folder already exported in this process (reading the base is slow)


def real_adapter(folder: Path, seed: int = 0) -> Path:
    """A PEFT folder that also holds ``adapter.gguf``, exported for the embedded base."""
    import shutil
    import tempfile

    from voiced.models import embedded_model_path
    from voiced.trainer.gguf_lora import export_gguf_lora

    if seed not in _EXPORTED:
        cached = Path(tempfile.mkdtemp(prefix="voiced-adapter-")) / str(seed)
        peft_adapter(cached, seed)
        export_gguf_lora(cached, embedded_model_path(), cached / "adapter.gguf")
        _EXPORTED[seed] = cached
    shutil.copytree(_EXPORTED[seed], folder, dirs_exist_ok=True)
    return folder


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
