"""Can voiced train on a model it found, and serve what it trains? The verdicts `voiced models` prints.

Training loads the base with transformers (voiced.trainer.base_model): a GGUF must be of an architecture
transformers reads from GGUF (its own list, ``transformers.integrations.ggml``) with tensor types gguf can
dequantise; a folder needs safetensors weights of an architecture transformers has a causal language model
for, unquantised. Serving: a GGUF base runs in llama.cpp, which needs the adapter exported as a GGUF LoRA
(``gguf_lora_unsupported_reason`` says for which architectures); a folder runs in transformers (MLX on Apple
silicon) with the PEFT adapter itself. Only headers are read and torch is never imported, so listing is quick.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from voiced.config import EMBEDDED_MODEL
from voiced.errors import VoicedError
from voiced.model_stores import STORE_PREFIXES, BaseChange, Candidate, FoundModel, describe, discover, set_base_model
from voiced.models import resolve_base_model
from voiced.registry import runtime_for_base
from voiced.trainer.gguf_lora import gguf_lora_unsupported_reason

# transformers reads these from GGUF, but they are encoder(-decoder) models: voiced trains causal language models.
_NOT_CAUSAL_GGUF = frozenset({"t5", "t5encoder", "umt5"})
_CAUSAL_CLASS = re.compile(r"(ForCausalLM|LMHeadModel)$")


@dataclass(frozen=True)
class Verdict:
    """Whether voiced can train a model and serve the adapter it trains; each "no" with its reason."""

    can_train: bool
    train_reason: str | None
    can_serve: bool
    serve_reason: str | None
    runtime: str | None  # what would serve it: "llama.cpp", "transformers" or "mlx"


@dataclass(frozen=True)
class ModelReport:
    """A model found on this machine and its verdict."""

    model: FoundModel
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {**self.model.to_dict(), **self.verdict.__dict__}


def list_models(folders: Sequence[str] = ()) -> list[ModelReport]:
    """Every model found (voiced.model_stores.discover) with whether voiced can train and serve it."""
    return [ModelReport(model, verdict(model)) for model in discover(folders)]


class UnsupportedBase(VoicedError):
    """A model voiced cannot train on, set as a voice's base."""


def report_for(spec: str) -> ModelReport | None:
    """The verdict on a ``base_model`` setting's model; None for a hub id (nothing local to read yet)."""
    ref = resolve_base_model(spec)
    if ref.kind == "hf_id":
        return None
    source = "embedded" if spec == EMBEDDED_MODEL else "folder"
    if spec.startswith(STORE_PREFIXES):
        source = {"ollama": "ollama", "lmstudio": "lmstudio", "hf": "hf-cache"}[spec.partition(":")[0]]
    model = describe(Candidate(spec, source, ref.path, "gguf" if ref.kind == "gguf" else "hf"))
    return ModelReport(model, verdict(model))


def use_model(spec: str, voice: str | None = None) -> tuple[BaseChange, ModelReport | None]:
    """Make ``spec`` the voice's base once it resolves and voiced can train on it; the next training run uses it."""
    report = report_for(spec)
    if report is not None and not report.verdict.can_train:
        raise UnsupportedBase(
            f"voiced cannot train on {spec!r}: {report.verdict.train_reason}.",
            "Pick a model that `voiced models` marks as trainable; the voice's base is unchanged.",
        )
    return set_base_model(spec, voice), report


def verdict(model: FoundModel) -> Verdict:
    """Decide from a model's headers alone whether it trains and serves, and say why not."""
    kind = "gguf" if model.format == "gguf" else "hf_dir"
    runtime = runtime_for_base(kind)
    if model.problem is not None:
        return Verdict(False, model.problem, False, model.problem, runtime)
    train = gguf_train_problem(model) if model.format == "gguf" else folder_train_problem(model)
    if model.format == "gguf":
        lora = gguf_lora_unsupported_reason(model.architecture or "unknown")
        serve = None if lora is None else f"llama.cpp runs the base, but {lora}"
    else:
        serve = train  # transformers (or MLX) serves the folder it could load for training
    return Verdict(train is None, train, serve is None, serve, runtime)


@cache
def transformers_gguf_architectures() -> frozenset[str]:
    """The GGUF architectures transformers can load (the keys of its GGUF configuration mapping)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return frozenset(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"}


def _gguf_names(architecture: str) -> set[str]:
    """How transformers may spell a llama.cpp architecture name: ``qwen2moe`` is ``qwen2_moe``, ``gpt-oss``
    is ``gpt_oss``."""
    plain = architecture.replace("-", "_")
    return {architecture, plain, re.sub(r"(?<!_)moe$", "_moe", plain)}


@cache
def dequantisable(type_name: str) -> bool:
    """Whether gguf can turn tensors of this type into floats, tried on one block of zeros."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    try:
        kind = GGMLQuantizationType[type_name]
        dequantize(np.zeros(GGML_QUANT_SIZES[kind][1], dtype=np.uint8), kind)
    except (KeyError, NotImplementedError, ValueError):
        return False
    return True


def gguf_train_problem(model: FoundModel) -> str | None:
    """Why transformers cannot load this GGUF for training; None when it can."""
    architecture = model.architecture or "unknown"
    if architecture in _NOT_CAUSAL_GGUF:
        return f"{architecture} is an encoder-decoder model; voiced trains decoder-only language models"
    supported = transformers_gguf_architectures()
    if not _gguf_names(architecture) & supported:
        return (
            f"transformers cannot load the {architecture!r} architecture from GGUF "
            f"(it reads {', '.join(sorted(supported - _NOT_CAUSAL_GGUF))})"
        )
    stuck = [name for name in model.tensor_types if not dequantisable(name)]
    if stuck:
        return f"its {', '.join(stuck)} tensors cannot be dequantised for training (gguf has no dequantiser for them)"
    return None


def folder_train_problem(model: FoundModel) -> str | None:
    """Why transformers cannot load this Hugging Face folder for LoRA training; None when it can."""
    method = model.quantization_method
    if method is not None and method.startswith("mlx "):
        return f"its weights are MLX-quantised ({method}), which transformers cannot load; use the unquantised model"
    if method is not None:
        return f"its weights are quantised ({method}); voiced trains on unquantised weights or on a GGUF"
    architecture = model.architecture or ""
    if not architecture or not _transformers_knows(architecture):
        return f"transformers has no model for the {architecture or 'unnamed'!r} architecture"
    classes = model.model_classes
    if classes and not any(_CAUSAL_CLASS.search(name) for name in classes):
        return f"it is not a causal language model ({', '.join(classes)}); voiced trains decoder-only models"
    return None


def _transformers_knows(model_type: str) -> bool:
    """Whether transformers ships a model package for this ``model_type`` (found without importing torch)."""
    module = model_type.replace("-", "_")
    for name in (module, module.removesuffix("_text")):
        if importlib.util.find_spec(f"transformers.models.{name}") is not None:
            return True
    return False
