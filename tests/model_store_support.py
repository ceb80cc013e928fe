"""Other tools' model stores, laid out in a temporary home as those tools leave them, for `voiced models`.

Ollama: ``manifests/HOST/NAMESPACE/MODEL/TAG`` (JSON naming layers) and ``blobs/sha256-HEX``. LM Studio:
``~/.lmstudio/models/PUBLISHER/MODEL/FILE.gguf``. The Hugging Face cache: ``models--OWNER--NAME`` with
``refs/main``, ``blobs/`` and ``snapshots/COMMIT/`` of links into the blobs. The GGUF is the embedded model
(hard-linked where the file system allows, so no test copies 98 MB it does not need to).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from voiced.models import embedded_model_path

STORE_VARIABLES = ("OLLAMA_MODELS", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")
HOST = "registry.test"  # any host: voiced walks manifests/HOST/... without knowing the real one


def isolate_stores(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Point HOME at ``home`` and clear the variables that move the stores, so only test files are found."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    for variable in STORE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return home


def place(source: Path, target: Path) -> Path:
    """``target`` with ``source``'s bytes: a hard link when possible, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # a blob two models share
        return target
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ollama_model(
    root: Path,
    namespace: str,
    model: str,
    tag: str,
    gguf: Path | None = None,
    *,
    host: str = HOST,
    template: bool = True,
) -> Path:
    """Put ``gguf`` (the embedded model by default) into an Ollama store as NAMESPACE/MODEL:TAG; returns its blob."""
    gguf = gguf or embedded_model_path()
    digest = sha256_of(gguf)
    blob = place(gguf, root / "blobs" / f"sha256-{digest}")
    layers = [
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": blob.stat().st_size}
    ]
    if template:
        text = b"{{ .System }}{{ .Prompt }}"
        template_digest = hashlib.sha256(text).hexdigest()
        (root / "blobs" / f"sha256-{template_digest}").write_bytes(text)
        layers.append(
            {
                "mediaType": "application/vnd.ollama.image.template",
                "digest": f"sha256:{template_digest}",
                "size": len(text),
            }
        )
    manifest = root / "manifests" / host / namespace / model / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": layers}), encoding="utf-8")
    return blob


def hf_cache_repo(cache: Path, repo_id: str, files: dict[str, Path], commit: str = "0" * 40, ref: str = "main") -> Path:
    """A repository in a Hugging Face hub cache: each file as a blob, linked from ``snapshots/COMMIT``,
    which ``refs/REF`` names."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for relative, source in files.items():
        blob = place(source, repo / "blobs" / sha256_of(source))
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit, encoding="utf-8")
    return snapshot


def write_gguf(
    path: Path, architecture: str, tensors: dict[str, np.ndarray] | None = None, metadata: dict[str, int] | None = None
) -> Path:
    """A small model GGUF of ``architecture`` (head count and shape fields set) with ``tensors`` and
    integer ``metadata``."""
    import gguf

    from voiced.trainer.gguf_lora import write_gguf_atomically

    def fill(writer: gguf.GGUFWriter) -> None:
        writer.add_block_count(1)
        writer.add_embedding_length(8)
        writer.add_head_count(2)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        for key, number in (metadata or {}).items():
            writer.add_uint32(key, number)
        for name, array in (tensors or {"token_embd.weight": np.zeros((16, 8), dtype=np.float32)}).items():
            writer.add_tensor(name, array)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_gguf_atomically(path, architecture, fill)
    return path


def tiny_hf_folder(folder: Path, max_shard_size: str | None = None) -> int:
    """A small random Llama saved with ``save_pretrained`` (safetensors, bfloat16; in shards of at most
    ``max_shard_size``) and a chat template; returns its parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=False,
    )  # fmt: skip
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(
        folder, safe_serialization=True, **({"max_shard_size": max_shard_size} if max_shard_size else {})
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}), encoding="utf-8")
    return model.num_parameters()
