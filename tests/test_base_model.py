"""Loading and describing base models with the real embedded GGUF and a real local folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from voiced.config import EMBEDDED_MODEL
from voiced.models import ModelNotFound, embedded_model_path
from voiced.trainer import base_model
from voiced.trainer.base_model import (
    BaseModelError,
    base_model_info,
    dtype_for,
    load_base_model,
    load_tokenizer,
    pick_device,
)

PROMPT = "It was a truth universally acknowledged"


@pytest.fixture(scope="module")
def embedded():
    return load_base_model(EMBEDDED_MODEL)


def _logits(model, tokenizer, text: str) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits[0, -1]


def test_embedded_gguf_loads_as_float32_llama(embedded):
    model, tokenizer = embedded
    assert model.config.model_type == "llama"
    assert model.dtype == torch.float32
    assert tokenizer.pad_token_id is not None
    logits = _logits(model, tokenizer, "Monday, Tuesday, Wednesday,")
    assert torch.isfinite(logits).all()
    # Correctly de-quantised and un-permuted weights make a coherent model.
    top = {tokenizer.decode(int(i)).strip() for i in logits.topk(5).indices}
    assert "Thursday" in top


def test_local_folder_round_trip_gives_the_same_logits(embedded, tmp_path: Path):
    model, tokenizer = embedded
    folder = tmp_path / "smol"
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    assert list(folder.glob("*.safetensors"))
    again, again_tokenizer = load_base_model(str(folder))
    assert again_tokenizer(PROMPT).input_ids == tokenizer(PROMPT).input_ids
    assert torch.allclose(_logits(again, again_tokenizer, PROMPT), _logits(model, tokenizer, PROMPT), atol=1e-4)

    info = base_model_info(str(folder))
    assert (info.kind, info.architecture, info.n_head, info.n_head_kv, info.hidden_size, info.n_layers) == (
        "hf_dir",
        "llama",
        9,
        3,
        576,
        30,
    )
    assert len(info.sha256) == 64


def test_folder_without_safetensors_is_refused(tmp_path: Path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(BaseModelError, match="safetensors"):
        load_base_model(str(folder))


def test_missing_and_broken_models_give_clear_errors(tmp_path: Path):
    with pytest.raises(ModelNotFound, match="does not exist"):
        load_tokenizer(str(tmp_path / "absent.gguf"))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises(BaseModelError, match="base model"):
        load_base_model(str(broken))
    with pytest.raises(BaseModelError, match="GGUF"):
        base_model_info(str(broken))


def test_embedded_info_matches_the_file_and_is_hashed_once(monkeypatch):
    info = base_model_info(EMBEDDED_MODEL)
    assert (info.architecture, info.n_head, info.n_head_kv, info.hidden_size, info.n_layers) == ("llama", 9, 3, 576, 30)
    import hashlib

    assert info.sha256 == hashlib.sha256(embedded_model_path().read_bytes()).hexdigest()

    def refuse(*args, **kwargs):
        raise AssertionError("the GGUF was hashed again")

    monkeypatch.setattr(base_model.hashlib, "sha256", refuse)
    start = time.perf_counter()
    assert base_model_info(EMBEDDED_MODEL) == info
    assert time.perf_counter() - start < 1.0


def test_a_content_addressed_blob_is_not_hashed_again(tmp_path: Path, monkeypatch):
    """An Ollama blob (here voiced's ``.gguf`` link to one) is named by its SHA-256: that name is its hash."""
    digest = base_model.file_sha256(embedded_model_path())
    link = tmp_path / f"sha256-{digest}.gguf"
    link.symlink_to(embedded_model_path())

    def refuse(*args, **kwargs):
        raise AssertionError("the blob was hashed")

    monkeypatch.setattr(base_model.hashlib, "sha256", refuse)
    assert base_model_info(str(link)).sha256 == digest
    assert base_model.content_address(tmp_path / "model.gguf") is None


def test_changed_file_is_hashed_again(tmp_path: Path):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"one")
    first = base_model.file_sha256(weights)
    weights.write_bytes(b"two!")
    os.utime(weights, ns=(time.time_ns() + 10**9,) * 2)
    assert base_model.file_sha256(weights) != first


def test_device_choice():
    assert pick_device("cpu") == "cpu"
    assert pick_device() in {"cuda", "mps", "cpu"}
    assert dtype_for("cpu") == torch.float32
    with pytest.raises(BaseModelError, match="choose one of"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BaseModelError, match="no CUDA"):
            pick_device("cuda")
