"""Helpers for the engine tests: a voice on the embedded model and a GGUF LoRA that changes its output."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from voiced.config import Config, VoiceConfig
from voiced.inference.generation import GenerationParams

GREEDY = GenerationParams(temperature=0.0, seed=7, max_tokens=12)
TEXT = "The rain had stopped by the time we reached the harbour, and the boats were coming in."
# Greedy, the base model answers this (Anne Brontë) with commentary: what the rewrite guard must catch.
HAVEN = (
    "However, that haven of bliss must not be entered till I had exchanged my miry boots for a clean pair "
    "of shoes, and my rough surtout for a respectable coat, and made myself generally presentable before "
    "decent society. For my mother, with all her kindness, was vastly particular on certain points."
)


def embedded_config(**voices: str) -> Config:
    """A config with a voice ``default`` on the embedded model, plus ``name=base_model`` voices."""
    config = Config(voices={"default": VoiceConfig(name="default")})
    # One thread: llama.cpp's threads spin while they wait for each other, which on a
    # shared, busy CPU makes two threads many times slower than one.
    config.inference.n_threads = 1
    for name, base in voices.items():
        config.voices[name] = VoiceConfig(name=name, base_model=base)
    return config


def write_lora_gguf(
    path: Path, *, seed: int = 0, rank: int = 8, layers: range = range(0, 30, 3), scale: float = 0.25
) -> Path:
    """A llama.cpp LoRA for SmolLM2-135M: random A (r, in) and B (out, r) on q and v of ``layers``.

    Written with the gguf package directly (the exporter lives in the trainer);
    the values are large enough that greedy decoding changes.
    """
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in layers:
        for name, out_features in (("attn_q", 576), ("attn_v", 192)):
            tensors[f"blk.{layer}.{name}.weight.lora_a"] = rng.normal(0, scale, size=(rank, 576)).astype(np.float32)
            tensors[f"blk.{layer}.{name}.weight.lora_b"] = rng.normal(0, scale, size=(out_features, rank)).astype(
                np.float32
            )
    return gguf_lora_file(path, tensors, alpha=float(rank))


def gguf_lora_file(path: Path, tensors: dict[str, np.ndarray], alpha: float) -> Path:
    """A llama.cpp LoRA file holding ``tensors`` (``blk.N.NAME.weight.lora_a``/``lora_b``) as written."""
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for name, tensor in tensors.items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
