"""Convert LoRA adapters between MLX (mlx-lm) and PEFT, in plain numpy and safetensors.

The PEFT adapter is the source of truth; an adapter trained by mlx-lm on Apple
Silicon is converted into it, and a PEFT adapter can be handed to mlx-lm.

mlx-lm's layout (``adapters.safetensors`` + ``adapter_config.json``):
``model.layers.N.<module>.lora_a`` is ``(in, r)`` and ``lora_b`` is ``(r, out)``;
the layer adds ``scale * (x @ lora_a) @ lora_b``; the config carries
``fine_tune_type``, ``num_layers`` (the last N layers are adapted) and
``lora_parameters = {rank, scale, dropout, keys}``.
PEFT's: ``base_model.model.model.layers.N.<module>.lora_A.weight`` is ``(r, in)``,
``lora_B.weight`` is ``(out, r)``, and the update is ``alpha / r * B @ A``.
So A = lora_a.T, B = lora_b.T and alpha = scale * r.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from voiced.errors import VoicedError
from voiced.private_files import make_private_dirs, write_private, write_private_with
from voiced.trainer.gguf_lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS, GGUFExportError, read_peft_lora

MLX_WEIGHTS = "adapters.safetensors"
MLX_CONFIG = "adapter_config.json"
_MLX_KEY = re.compile(r"^model\.layers\.(?P<layer>\d+)\.(?P<module>[a-z_]+\.[a-z_]+)\.lora_(?P<which>[ab])$")


class AdapterConversionError(VoicedError):
    """An adapter that cannot be converted, with what to do about it."""


# For adapters voiced did not make, or that were damaged: its own training writes ones that convert.
_RETRAIN = "Retrain the voice with `voiced train`; the adapters it writes convert both ways."


def peft_to_mlx(peft_dir: Path, mlx_dir: Path, n_layers: int) -> Path:
    """Write an mlx-lm adapter equivalent to the PEFT adapter in ``peft_dir``.

    ``n_layers`` is the base model's depth: mlx-lm adapts the last
    ``num_layers`` layers, so the count starts at the first adapted layer
    (layers in between that PEFT left alone get zero updates).
    """
    try:
        config, pairs = read_peft_lora(peft_dir)
    except GGUFExportError as exc:
        raise AdapterConversionError(str(exc)) from exc
    ranks = {pair.rank for pair in pairs}
    if len(ranks) != 1:
        raise AdapterConversionError(
            f"mlx-lm needs one rank for every layer; this adapter mixes ranks {sorted(ranks)}.", _RETRAIN
        )
    rank = ranks.pop()
    scale = float(config.get("lora_alpha", rank)) / rank
    tensors: dict[str, np.ndarray] = {}
    for pair in pairs:
        prefix = f"model.layers.{pair.layer}.{pair.module}"
        tensors[prefix + ".lora_a"] = np.ascontiguousarray(pair.a.T)
        # A module whose PEFT scale differs (patterns, rsLoRA) carries the difference in B.
        tensors[prefix + ".lora_b"] = np.ascontiguousarray(pair.b.T * np.float32(pair.scale / scale))
    first_layer = min(pair.layer for pair in pairs)
    if max(pair.layer for pair in pairs) >= n_layers:
        raise AdapterConversionError(
            f"The adapter has layers beyond the base model's {n_layers}; it belongs to another model.",
            "Convert it with the base model it was trained on, or retrain the voice (`voiced train`).",
        )
    mlx_config = {
        "fine_tune_type": "lora",
        "num_layers": n_layers - first_layer,
        "lora_parameters": {
            "rank": rank,
            "scale": scale,
            "dropout": float(config.get("lora_dropout", 0.0)),
            "keys": sorted({pair.module for pair in pairs}),
        },
    }
    _write_adapter(Path(mlx_dir), MLX_WEIGHTS, tensors, MLX_CONFIG, mlx_config)
    return Path(mlx_dir)


def mlx_to_peft(mlx_dir: Path, peft_dir: Path, base_model_name: str = "") -> Path:
    """Write a PEFT adapter equivalent to the mlx-lm adapter in ``mlx_dir``."""
    from safetensors.numpy import load_file

    mlx_dir = Path(mlx_dir)
    try:
        config = json.loads((mlx_dir / MLX_CONFIG).read_text(encoding="utf-8"))
        weights = load_file(str(mlx_dir / MLX_WEIGHTS))
    except (OSError, ValueError) as exc:
        raise AdapterConversionError(
            f"Cannot read the MLX adapter in {mlx_dir} ({exc}); retrain or restore it."
        ) from exc
    fine_tune_type = config.get("fine_tune_type", "lora")
    if fine_tune_type != "lora":
        raise AdapterConversionError(f"Only LoRA adapters convert to PEFT; this one is {fine_tune_type!r}.", _RETRAIN)
    params = config.get("lora_parameters") or {}
    try:
        rank, scale = int(params["rank"]), float(params["scale"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AdapterConversionError(f"{mlx_dir / MLX_CONFIG} lacks lora_parameters rank and scale.", _RETRAIN) from exc

    tensors: dict[str, np.ndarray] = {}
    layers: set[int] = set()
    modules: set[str] = set()
    for key, value in weights.items():
        match = _MLX_KEY.match(key)
        if not match:
            raise AdapterConversionError(
                f"Unsupported MLX adapter tensor {key!r}: only LoRA on decoder layers converts.", _RETRAIN
            )
        rank_axis = 1 if match["which"] == "a" else 0
        if value.ndim != 2 or value.shape[rank_axis] != rank:
            raise AdapterConversionError(f"{key} has shape {value.shape}, which does not fit rank {rank}.", _RETRAIN)
        layers.add(int(match["layer"]))
        modules.add(match["module"])
        which = "A" if match["which"] == "a" else "B"
        peft_key = f"base_model.model.model.layers.{match['layer']}.{match['module']}.lora_{which}.weight"
        tensors[peft_key] = np.ascontiguousarray(value.astype(np.float32).T)
    if not tensors:
        raise AdapterConversionError(f"{mlx_dir / MLX_WEIGHTS} holds no LoRA weights.", _RETRAIN)

    peft_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name,
        "r": rank,
        "lora_alpha": scale * rank,
        "lora_dropout": float(params.get("dropout", 0.0)),
        "target_modules": sorted(module.rsplit(".", 1)[-1] for module in modules),
        "layers_to_transform": sorted(layers),
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    _write_adapter(Path(peft_dir), ADAPTER_WEIGHTS, tensors, ADAPTER_CONFIG, peft_config)
    return Path(peft_dir)


def _write_adapter(
    directory: Path, weights_name: str, tensors: dict[str, np.ndarray], config_name: str, config: dict
) -> None:
    """Write weights and config into a private folder, each file atomically (temp file, then rename)."""
    from safetensors.numpy import save_file

    make_private_dirs(directory)
    write_private_with(directory / weights_name, lambda path: save_file(tensors, str(path)))
    write_private(directory / config_name, json.dumps(config, indent=2) + "\n")
