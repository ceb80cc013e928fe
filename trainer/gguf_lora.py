"""Export a PEFT LoRA adapter (the source of truth) as a GGUF LoRA that llama.cpp loads.

Layout llama.cpp expects: ``general.type = "adapter"``, ``adapter.type = "lora"``,
``adapter.lora.alpha``, the base's ``general.architecture``, and per adapted
matrix ``<base tensor>.lora_a`` holding A ``(r, in)`` and ``<base tensor>.lora_b``
holding B ``(out, r)``, untransposed. llama.cpp scales the product by
``alpha / r`` (r read from B).

The rules differ per architecture, so an export is written only for the
architectures a test has proven (``EXPORT_TESTED_ARCHITECTURES``); any other is
refused rather than written in a layout llama.cpp might misapply:

- ``llama``: llama.cpp's converter stores the Q and K weights with the two
  halves of every rotary head interleaved. ``q_proj``/``k_proj`` LoRA updates
  add to those rows, so the rows of B must be permuted the same way (``n_head``
  heads for Q, ``n_head_kv`` for K); A acts on the (unpermuted) input and
  stays as it is (tests/test_gguf_lora_parity.py).
- ``gemma3``: Q and K are stored as Hugging Face holds them (its rotary
  embedding rotates halves, as llama.cpp's NEOX mode does), so nothing is
  permuted; the q/k norms and the other norms (stored with Gemma's +1) are not
  LoRA targets (tests/test_gemma_base.py).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiced.errors import VoicedError
from voiced.private_files import write_private_with
from voiced.trainer.base_model import architecture_fields_from_reader

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"

# PEFT module name -> llama.cpp tensor name inside ``blk.N``.
MODULE_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# Architectures whose Q/K rows llama.cpp's converter interleaves per head.
ROTARY_PERMUTED_ARCHITECTURES = frozenset({"llama"})
# Architectures whose GGUF LoRA export is proven by a test to recover what PEFT learned through llama.cpp.
EXPORT_TESTED_ARCHITECTURES = frozenset({"llama", "gemma3"})


def gguf_lora_unsupported_reason(architecture: str) -> str | None:
    """Why an adapter on a base of this GGUF architecture cannot be exported for llama.cpp; None when it can."""
    if architecture in EXPORT_TESTED_ARCHITECTURES:
        return None
    tested = ", ".join(sorted(EXPORT_TESTED_ARCHITECTURES))
    return (
        f"voiced has no tested GGUF LoRA export for the {architecture!r} architecture "
        f"(tested: {tested}); its llama.cpp tensor layout rules are unverified"
    )


_PEFT_KEY = re.compile(
    r"^base_model\.model\.(?:model\.)?layers\.(?P<layer>\d+)\.(?P<module>[a-z_]+\.[a-z_]+)"
    r"\.lora_(?P<which>[AB])(?:\.[A-Za-z0-9_]+)?\.weight$"
)


class GGUFExportError(VoicedError):
    """The adapter cannot be exported for llama.cpp, with what to do about it."""


@dataclass(frozen=True)
class LoraPair:
    """One adapted matrix: A (r, in), B (out, r), and PEFT's scale for it."""

    layer: int
    module: str
    a: np.ndarray
    b: np.ndarray
    scale: float

    @property
    def rank(self) -> int:
        return self.a.shape[0]

    @property
    def gguf_name(self) -> str:
        return f"blk.{self.layer}.{MODULE_TO_GGUF[self.module]}.weight"


def read_adapter_config(adapter_dir: Path) -> dict:
    path = Path(adapter_dir) / ADAPTER_CONFIG
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GGUFExportError(
            f"Cannot read {path} ({exc}); the adapter folder is incomplete: retrain or restore it."
        ) from exc


def peft_scale(config: dict, module: str) -> float:
    """The factor PEFT multiplies B @ A by, honouring rank/alpha patterns and rsLoRA."""
    rank = _pattern_value(config.get("rank_pattern") or {}, module, config["r"])
    alpha = _pattern_value(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", rank))
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def _pattern_value(pattern: dict, module: str, default):
    """PEFT's rule: a pattern key matches a module whose dotted name ends with it (keys are regexes)."""
    for key, value in pattern.items():
        if re.fullmatch(rf"(?:.*\.)?{key}", module):
            return value
    return default


def read_peft_lora(adapter_dir: Path) -> tuple[dict, list[LoraPair]]:
    """The adapter's config and its (A, B) pairs, validated for llama.cpp export."""
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    config = read_adapter_config(adapter_dir)
    if config.get("use_dora"):
        raise GGUFExportError("DoRA adapters cannot run in llama.cpp; train with use_dora off.")
    if config.get("modules_to_save"):
        raise GGUFExportError(
            f"The adapter also trains full modules ({config['modules_to_save']}), which a GGUF LoRA cannot hold; "
            "train without modules_to_save."
        )
    weights_path = adapter_dir / ADAPTER_WEIGHTS
    try:
        tensors = load_file(str(weights_path))
    except (OSError, ValueError) as exc:
        raise GGUFExportError(f"Cannot read {weights_path} ({exc}); retrain or restore the adapter.") from exc

    halves: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        match = _PEFT_KEY.match(key)
        if not match:
            raise GGUFExportError(f"Unsupported adapter tensor {key!r}: only LoRA on decoder layers can be exported.")
        module = match["module"]
        if module not in MODULE_TO_GGUF:
            raise GGUFExportError(
                f"Target module {module!r} cannot be exported to llama.cpp; "
                f"use target modules among {', '.join(m.split('.')[1] for m in MODULE_TO_GGUF)}."
            )
        halves.setdefault((int(match["layer"]), module), {})[match["which"]] = value.astype(np.float32)

    pairs = []
    for (layer, module), half in sorted(halves.items()):
        if set(half) != {"A", "B"}:
            raise GGUFExportError(
                f"Layer {layer} {module} has lora_{''.join(half)} without its partner; the adapter is damaged."
            )
        a, b = half["A"], half["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise GGUFExportError(f"Layer {layer} {module}: A {a.shape} and B {b.shape} are not a LoRA pair.")
        pairs.append(LoraPair(layer, module, a, b, peft_scale(config, f"layers.{layer}.{module}")))
    if not pairs:
        raise GGUFExportError(f"{weights_path} holds no LoRA weights.")
    return config, pairs


def permute_rotary_rows(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder output rows as llama.cpp stores Llama Q/K: per head, interleave the two rotary halves.

    Within each head of ``2 * half`` rows, row ``j * half + i`` (j in {0, 1})
    moves to position ``2 * i + j``.
    """
    out_dim = rows.shape[0]
    if out_dim % (2 * n_head):
        raise GGUFExportError(f"{out_dim} rows cannot be split into {n_head} rotary heads.")
    half = out_dim // n_head // 2
    return rows.reshape(n_head, 2, half, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


@dataclass(frozen=True)
class LlamaCppLora:
    """An adapter in llama.cpp's terms: one alpha, and per base tensor A and B as the file holds them."""

    architecture: str
    alpha: float
    tensors: list[tuple[str, np.ndarray, np.ndarray]]  # (base tensor name, A (r, in), B (out, r))

    def delta(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The weight update llama.cpp applies, in the base GGUF's row order."""
        return np.float32(self.alpha / a.shape[0]) * (b @ a)


def open_base_gguf(base_gguf: Path):
    """A ``gguf.GGUFReader`` on the base model, or a clear error."""
    import gguf

    try:
        return gguf.GGUFReader(str(base_gguf))
    except (OSError, ValueError) as exc:
        raise GGUFExportError(f"Cannot read the base GGUF {base_gguf} ({exc}).") from exc


def to_llama_cpp(adapter_dir: Path, base_reader, base_gguf: Path, *, permute_qk: bool | None = None) -> LlamaCppLora:
    """Check the PEFT adapter against the base GGUF and lay it out as llama.cpp applies it.

    ``permute_qk`` None follows the architecture's rule; True or False forces the
    rotary permutation on or off, which exists only for tests to show the rule matters."""
    fields = architecture_fields_from_reader(base_reader, Path(base_gguf))
    unsupported = gguf_lora_unsupported_reason(fields["architecture"])
    if unsupported is not None:
        raise GGUFExportError(
            f"Cannot export a GGUF LoRA for {base_gguf}: {unsupported}.",
            "Serve this voice with transformers (a Hugging Face folder of the same model as base_model), "
            "or use a base of a tested architecture.",
        )
    config, pairs = read_peft_lora(adapter_dir)
    if permute_qk is None:
        permute_qk = fields["architecture"] in ROTARY_PERMUTED_ARCHITECTURES
    base_shapes = {t.name: tuple(int(n) for n in t.shape) for t in base_reader.tensors}  # ggml order: (in, out)

    # llama.cpp applies alpha / r with one alpha per file; modules whose PEFT scale
    # differs from that (rank/alpha patterns, rsLoRA) carry the difference in B.
    alpha = float(config.get("lora_alpha", config["r"]))
    tensors: list[tuple[str, np.ndarray, np.ndarray]] = []
    for pair in pairs:
        expected = base_shapes.get(pair.gguf_name)
        if expected is None:
            raise GGUFExportError(
                f"The base {base_gguf} has no tensor {pair.gguf_name}; the adapter was trained for another model."
            )
        if expected != (pair.a.shape[1], pair.b.shape[0]):
            raise GGUFExportError(
                f"{pair.gguf_name}: the adapter maps {pair.a.shape[1]} -> {pair.b.shape[0]} but the base maps "
                f"{expected[0]} -> {expected[1]}; the adapter was trained for another model."
            )
        b = pair.b * np.float32(pair.scale / (alpha / pair.rank))
        if permute_qk:
            if pair.module == "self_attn.q_proj":
                b = permute_rotary_rows(b, fields["n_head"])
            elif pair.module == "self_attn.k_proj":
                b = permute_rotary_rows(b, fields["n_head_kv"])
        tensors.append(
            (pair.gguf_name, np.ascontiguousarray(pair.a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32))
        )
    return LlamaCppLora(fields["architecture"], alpha, tensors)


def export_gguf_lora(adapter_dir: Path, base_gguf: Path, out_path: Path, *, permute_qk: bool | None = None) -> Path:
    """Write ``out_path`` (atomically, readable by the user only) from the PEFT adapter in ``adapter_dir``.

    ``base_gguf`` is the GGUF the adapter will run on: its architecture, head
    counts and tensor shapes are checked and used; an architecture without a
    tested export is refused (:class:`GGUFExportError`). ``permute_qk`` forced
    on or off exists only to demonstrate in tests that the rule matters.
    """
    import gguf

    lora = to_llama_cpp(adapter_dir, open_base_gguf(base_gguf), base_gguf, permute_qk=permute_qk)

    def fill(writer) -> None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora.alpha)
        for name, a, b in lora.tensors:
            writer.add_tensor(name + ".lora_a", a)
            writer.add_tensor(name + ".lora_b", b)

    write_gguf_atomically(Path(out_path), lora.architecture, fill)
    return Path(out_path)


def write_gguf_atomically(out_path: Path, architecture: str, fill) -> None:
    """Write a GGUF through a temporary file in the same folder, readable by the user only.

    ``fill(writer)`` adds the metadata and tensors; the file appears complete or not at all.
    """
    import gguf

    def write(temporary: Path) -> None:
        writer = gguf.GGUFWriter(str(temporary), architecture)
        fill(writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    write_private_with(out_path, write)
