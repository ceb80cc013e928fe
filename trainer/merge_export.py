"""Hand a trained voice to other tools: an Ollama model (base GGUF + GGUF LoRA)
or one merged model folder (safetensors) for users who want a single model.

The PEFT adapter stays the source of truth; both exports are derived from it
and written so that an interrupted export never leaves a half-written result.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from voiced.errors import VoicedError
from voiced.models import BaseModelRef
from voiced.private_files import make_private, make_private_tree, write_private
from voiced.trainer.base_model import as_ref, load_base_model
from voiced.trainer.gguf_lora import (
    ADAPTER_WEIGHTS,
    GGUFExportError,
    open_base_gguf,
    to_llama_cpp,
    write_gguf_atomically,
)

MODELFILE = "Modelfile"
MERGED_GGUF_NAME = "model.gguf"
# Written by the GGUF writer itself, or describing the old file's layout.
_REGENERATED_GGUF_KEYS = ("GGUF.", "general.architecture", "general.alignment")
OLLAMA_ADAPTER_NAME = "adapter.gguf"


class ExportError(VoicedError):
    """An export that cannot be made, with what to do about it."""


def _replace_dir(built: Path, out_dir: Path) -> None:
    """Move a fully written folder into place, replacing an older export."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
        os.replace(built, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(built, out_dir)


def _staging_dir(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))  # 0700, never through the umask


def modelfile_text(base_gguf: Path, adapter_file: str, system_prompt: str | None = None) -> str:
    """An Ollama Modelfile: the base model, the LoRA on top, optionally the voice's system prompt."""
    for value in (str(base_gguf), adapter_file):
        if "\n" in value or '"' in value:
            raise ExportError(
                f"The path {value!r} cannot be written into a Modelfile; move the file to a plainer path."
            )
    lines = [f"FROM {base_gguf}", f"ADAPTER {adapter_file}"]
    if system_prompt:
        lines.append('SYSTEM """' + system_prompt.replace('"""', '"') + '"""')
    return "\n".join(lines) + "\n"


def export_ollama(
    adapter_dir: Path,
    gguf_lora_path: Path,
    base_ref: BaseModelRef | str,
    out_dir: Path,
    system_prompt: str | None = None,
) -> Path:
    """Write ``out_dir`` with a Modelfile and a copy of the GGUF LoRA; returns the Modelfile's path.

    Import it with ``ollama create <name> -f <out_dir>/Modelfile``. The base
    GGUF is referenced by its absolute path, not copied.
    """
    ref = as_ref(base_ref)
    if ref.kind != "gguf":
        raise ExportError(
            f"Ollama needs a GGUF base model to apply a GGUF LoRA; the voice's base is {ref.spec!r} ({ref.kind}). "
            "Use `export_merged` for a merged model instead."
        )
    gguf_lora_path = Path(gguf_lora_path)
    if not gguf_lora_path.is_file():
        raise ExportError(f"The GGUF LoRA {gguf_lora_path} does not exist; export the adapter to GGUF first.")
    if not (Path(adapter_dir) / ADAPTER_WEIGHTS).is_file():
        raise ExportError(f"{adapter_dir} holds no {ADAPTER_WEIGHTS}; it is not a trained adapter.")
    out_dir = Path(out_dir)
    staging = _staging_dir(out_dir)
    try:
        shutil.copyfile(gguf_lora_path, staging / OLLAMA_ADAPTER_NAME)
        make_private(staging / OLLAMA_ADAPTER_NAME)
        text = modelfile_text(ref.path.resolve(), f"./{OLLAMA_ADAPTER_NAME}", system_prompt)
        write_private(staging / MODELFILE, text, durable=False)  # the staging folder is renamed whole
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir / MODELFILE


def export_merged(adapter_dir: Path, base_ref: BaseModelRef | str, out_dir: Path) -> Path:
    """Write a Hugging Face folder (safetensors, config, tokenizer) with the adapter merged into the base.

    The base is loaded in float32 on the CPU (GGUF bases are de-quantised),
    so the merged weights are exact. For a GGUF base the folder also holds
    ``model.gguf``, the same merge as one file for llama.cpp. Returns ``out_dir``.
    """
    import torch
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / ADAPTER_WEIGHTS).is_file():
        raise ExportError(f"{adapter_dir} holds no {ADAPTER_WEIGHTS}; voiced only merges safetensors adapters.")
    model, tokenizer = load_base_model(base_ref, device="cpu", dtype=torch.float32)
    try:
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ExportError(
            f"Cannot apply the adapter in {adapter_dir} to its base ({exc}); was it trained for this base?"
        ) from exc
    out_dir = Path(out_dir)
    staging = _staging_dir(out_dir)
    try:
        merged.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if as_ref(base_ref).kind == "gguf":
            export_merged_gguf(adapter_dir, base_ref, staging / MERGED_GGUF_NAME)
        make_private_tree(staging)
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def export_merged_gguf(adapter_dir: Path, base_ref: BaseModelRef | str, out_path: Path) -> Path:
    """One GGUF file with the adapter merged in, for llama.cpp, Ollama (``FROM``) and LM Studio.

    Every tensor and setting of the base GGUF (tokenizer, chat template) is
    copied as it is; each adapted matrix is de-quantised, gets the update
    llama.cpp would apply, and is stored in float32.
    """
    import gguf

    ref = as_ref(base_ref)
    if ref.kind != "gguf":
        raise ExportError(f"A merged GGUF is built from a GGUF base; {ref.spec!r} is a {ref.kind}. Use export_merged.")
    reader = open_base_gguf(ref.path)
    try:
        lora = to_llama_cpp(adapter_dir, reader, ref.path)
    except GGUFExportError as exc:
        raise ExportError(str(exc)) from exc
    updates = {name: lora.delta(a, b) for name, a, b in lora.tensors}

    def fill(writer) -> None:
        for name, field in reader.fields.items():
            if name.startswith(_REGENERATED_GGUF_KEYS):
                continue
            sub_type = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(name, field.contents(), field.types[0], sub_type)
        for tensor in reader.tensors:
            if tensor.name in updates:
                weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
                writer.add_tensor(tensor.name, weight.reshape(updates[tensor.name].shape) + updates[tensor.name])
            else:
                writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)

    write_gguf_atomically(Path(out_path), lora.architecture, fill)
    return Path(out_path)
