"""Loading a voice's base model for training: the embedded GGUF, a local folder or a hub id.

transformers dequantises a GGUF to full precision and un-permutes the Llama
Q/K weights, so the model trained here is the same network llama.cpp runs.
Local folders are read from safetensors only (never pickles). torch and
transformers are imported inside the functions, so ``base_model_info`` stays
cheap for callers that only need to describe a base.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiced.errors import VoicedError
from voiced.models import BaseModelRef, ModelNotFound, resolve_base_model
from voiced.prompts import give_template

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


class BaseModelError(VoicedError):
    """A base model that was found but cannot be loaded, with what to do about it."""


_NOT_A_MODEL_FIX = "Set `base_model` to the GGUF of a model (not of a LoRA adapter or another file)."


@dataclass(frozen=True)
class BaseModelInfo:
    """What a trained adapter records about its base, so a mismatch can be detected later."""

    id: str  # the voice's base_model setting (spec)
    kind: str  # "gguf", "hf_dir" or "hf_id"
    sha256: str | None  # of the GGUF file, or of the folder's weight files; None for hub ids
    architecture: str  # e.g. "llama"
    n_head: int
    n_head_kv: int
    hidden_size: int
    n_layers: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def as_ref(ref_or_spec: BaseModelRef | str) -> BaseModelRef:
    """Accept either a resolved reference or a ``base_model`` setting."""
    return ref_or_spec if isinstance(ref_or_spec, BaseModelRef) else resolve_base_model(ref_or_spec)


# ---------------------------------------------------------------- device


def pick_device(preference: str = "auto") -> str:
    """The torch device to train on: CUDA, then Apple's MPS, then the CPU."""
    import torch

    if preference not in DEVICE_CHOICES:
        raise BaseModelError(f"Unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    if preference == "cuda" and not torch.cuda.is_available():
        raise BaseModelError('device = "cuda" but this torch build sees no CUDA GPU; set device = "auto" or "cpu".')
    if preference == "mps" and not torch.backends.mps.is_available():
        raise BaseModelError('device = "mps" but MPS is not available here; set device = "auto" or "cpu".')
    if preference != "auto":
        return preference
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def dtype_for(device: str) -> torch.dtype:
    """bfloat16 on GPUs that compute in it natively; float32 elsewhere (CPU, MPS, older GPUs)."""
    import torch

    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


# ---------------------------------------------------------------- loading


def _source_kwargs(ref: BaseModelRef) -> tuple[str, dict[str, Any]]:
    """The first argument and keyword arguments for ``from_pretrained`` for this kind of base."""
    if ref.kind == "gguf":
        return str(ref.path.parent), {"gguf_file": ref.path.name}
    if ref.kind == "hf_dir":
        return ref.location, {"local_files_only": True}
    if ref.kind == "hf_id":
        return ref.location, {}
    raise BaseModelError(f"Unknown base model kind {ref.kind!r} for {ref.spec!r}.")


def _load_failed(ref: BaseModelRef, what: str, exc: Exception) -> BaseModelError:
    hint = {
        "gguf": "check that the file is a complete GGUF of a model transformers can read (Llama, Qwen2, ...)",
        "hf_dir": "check that the folder holds config.json, the tokenizer files and *.safetensors weights",
        "hf_id": "check the id and your network, or download the model and point base_model at the folder",
    }.get(ref.kind, "check the base_model setting")
    return BaseModelError(f"Cannot load the {what} of base model {ref.spec!r} ({ref.location}): {exc}. To fix: {hint}.")


def load_tokenizer(ref_or_spec: BaseModelRef | str):
    """The tokenizer of a base model (from the GGUF's own vocabulary for GGUF bases).

    A base without a chat template gets voiced's template for its architecture
    (:func:`voiced.prompts.template_for_base_without_one`), the one the server renders prompts with."""
    from transformers import AutoTokenizer

    ref = as_ref(ref_or_spec)
    source, kwargs = _source_kwargs(ref)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise _load_failed(ref, "tokenizer", exc) from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        # A pretrained base without a template: the one voiced's server renders for it too (voiced.prompts).
        give_template(tokenizer, base_model_info(ref).architecture)
    return tokenizer


def load_base_model(
    ref_or_spec: BaseModelRef | str,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    quantization_config: Any = None,
):
    """Load ``(model, tokenizer)`` ready for LoRA training on ``device``.

    GGUF weights are dequantised into ``dtype`` (float32 by default). Folders
    must hold safetensors weights: pickled checkpoints are refused. A
    ``quantization_config`` (bitsandbytes 4-bit, from the trainer's memory plan)
    loads the weights quantised straight onto ``device``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    ref = as_ref(ref_or_spec)
    dtype = dtype or torch.float32
    if ref.kind == "hf_dir" and not any(ref.path.glob("*.safetensors")):
        raise BaseModelError(
            f"{ref.path} has no *.safetensors weights; voiced never loads pickled checkpoints. "
            "Convert the model to safetensors (save_pretrained(..., safe_serialization=True)) and try again."
        )
    source, kwargs = _source_kwargs(ref)
    if ref.kind != "gguf":
        kwargs["use_safetensors"] = True
    if quantization_config is not None:  # quantised as they load, onto the device: a 4-bit model has no .to()
        kwargs.update(quantization_config=quantization_config, device_map={"": device})
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise _load_failed(ref, "weights", exc) from exc
    if ref.kind == "gguf":
        _forget_gguf_quantizer(model)
    if quantization_config is None:
        # transformers declares `to` as @wraps(torch.nn.Module.to), which mypy reads as unbound: the device
        # looks like self.
        model.to(device)  # type: ignore[arg-type]
    return model, load_tokenizer(ref)


def _forget_gguf_quantizer(model) -> None:
    """Treat a de-quantised GGUF model as the plain model it now is.

    transformers keeps a GGUF marker that makes ``save_pretrained`` refuse the
    model, although its weights are ordinary tensors; merged exports need it gone.
    """
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


# ---------------------------------------------------------------- description

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    """Identifies one version of a file: a changed file gets a new key."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per (path, size, mtime) in this process."""
    key = _file_key(path)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


_CONTENT_ADDRESSED = re.compile(r"sha256-(?P<hex>[0-9a-f]{64})(?:\.gguf)?")


def content_address(path: Path) -> str | None:
    """The SHA-256 a content-addressed store already named the file by (an Ollama blob, or voiced's
    ``.gguf`` link to one), so a multi-GB base is not hashed again in every process; None otherwise."""
    for candidate in (path, path.resolve()):
        match = _CONTENT_ADDRESSED.fullmatch(candidate.name)
        if match:
            return match["hex"]
    return None


def _folder_sha256(folder: Path) -> str:
    """One digest over a folder's weight files (names and contents)."""
    digest = hashlib.sha256()
    for weights in sorted(folder.glob("*.safetensors")):
        digest.update(weights.name.encode() + b"\0" + file_sha256(weights).encode() + b"\n")
    return digest.hexdigest()


_GGUF_FIELDS_CACHE: dict[tuple[str, int, int], dict[str, Any]] = {}


def gguf_architecture_fields(path: Path) -> dict[str, Any]:
    """Architecture and shape of a GGUF model, read from its metadata once per (path, size, mtime)."""
    key = _file_key(path)
    if key not in _GGUF_FIELDS_CACHE:
        _GGUF_FIELDS_CACHE[key] = _read_gguf_architecture_fields(path)
    return dict(_GGUF_FIELDS_CACHE[key])


def _read_gguf_architecture_fields(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"{path} is not a readable GGUF file ({exc}); re-download it or fix base_model.") from exc
    return architecture_fields_from_reader(reader, path)


def architecture_fields_from_reader(reader, path: Path) -> dict[str, Any]:
    """Architecture, head counts, width and depth from an open ``gguf.GGUFReader``."""

    def field(name: str) -> Any:
        found = reader.get_field(name)
        return None if found is None else found.contents()

    arch = field("general.architecture")
    if not arch:
        raise BaseModelError(f"{path} has no general.architecture; it is not a model GGUF.", _NOT_A_MODEL_FIX)
    n_head = field(f"{arch}.attention.head_count")
    if n_head is None:
        raise BaseModelError(f"{path} has no {arch}.attention.head_count; it is not a model GGUF.", _NOT_A_MODEL_FIX)
    return {
        "architecture": str(arch),
        "n_head": int(n_head),
        "n_head_kv": int(field(f"{arch}.attention.head_count_kv") or n_head),
        "hidden_size": int(field(f"{arch}.embedding_length")),
        "n_layers": int(field(f"{arch}.block_count")),
    }


def _hf_config_fields(config: dict[str, Any]) -> dict[str, Any]:
    n_head = int(config["num_attention_heads"])
    return {
        "architecture": str(config.get("model_type", "unknown")),
        "n_head": n_head,
        "n_head_kv": int(config.get("num_key_value_heads") or n_head),
        "hidden_size": int(config["hidden_size"]),
        "n_layers": int(config["num_hidden_layers"]),
    }


def base_model_info(ref_or_spec: BaseModelRef | str) -> BaseModelInfo:
    """Identify a base model: its setting, a content hash and the shapes adapters depend on."""
    ref = as_ref(ref_or_spec)
    if ref.kind == "gguf":
        digest = content_address(ref.path) or file_sha256(ref.path)
        return BaseModelInfo(ref.spec, ref.kind, digest, **gguf_architecture_fields(ref.path))
    if ref.kind == "hf_dir":
        try:
            config = json.loads((ref.path / "config.json").read_text(encoding="utf-8"))
            fields = _hf_config_fields(config)
        except (OSError, ValueError, KeyError) as exc:
            raise BaseModelError(
                f"{ref.path / 'config.json'} is unreadable or incomplete ({exc}).",
                "Download the model folder again, or point `base_model` at another one.",
            ) from exc
        return BaseModelInfo(ref.spec, ref.kind, _folder_sha256(ref.path), **fields)
    if ref.kind == "hf_id":
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(ref.location).to_dict()
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"Cannot fetch the configuration of {ref.location!r} ({exc}); check the id and your network, "
                "or download the model and point base_model at the folder."
            ) from exc
        return BaseModelInfo(ref.spec, ref.kind, None, **_hf_config_fields(config))
    raise BaseModelError(f"Unknown base model kind {ref.kind!r} for {ref.spec!r}.")
