"""Which precision the PEFT loop computes in on a CPU: bf16 autocast where the CPU has the instructions.

The weights stay float32 (the frozen base and the trained LoRA parameters alike, so the optimizer
updates float32 master weights); with bf16 autocast the matrix products of the forward pass run in
bfloat16 (their backward follows), and the loss is computed in float32
(:mod:`voiced.trainer.response_loss`). PyTorch computes bf16 matrix products with the CPU's own
instructions where it has them: AVX-512 BF16 (AMD Zen 4 and later, Intel Cooper Lake and later) or
AMX (Intel Sapphire Rapids and later). Without either, bf16 is emulated and slower than float32.

``training.cpu_autocast`` chooses: "auto" uses bf16 where the CPU has one of those instruction sets
and float32 elsewhere, "bf16" forces it (emulated where they are missing), "off" keeps float32.
docs/training.md has the measurements behind "auto". GPUs keep their own rule
(:func:`voiced.trainer.base_model.dtype_for`: bf16 weights on CUDA devices that support them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The CPU features (their /proc/cpuinfo names, which are also torch.cpu.get_capabilities()'s keys)
# that give PyTorch native bf16 matrix products.
BF16_FEATURES = ("amx_bf16", "avx512_bf16")

BF16, FLOAT32 = "bfloat16", "float32"


@dataclass(frozen=True)
class Precision:
    """What a run computes in and why: ``autocast`` is "bf16" or "off"; ``reason`` is one sentence."""

    autocast: str
    reason: str
    cpu_features: tuple[str, ...] = ()

    @property
    def compute_dtype(self) -> str:
        return BF16 if self.autocast == "bf16" else FLOAT32

    def to_event(self) -> dict[str, Any]:
        """The start event's fields."""
        return {"autocast": self.autocast, "compute_dtype": self.compute_dtype, "precision_reason": self.reason}


def cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU feature flags of the first processor in a Linux /proc/cpuinfo; empty elsewhere."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def torch_cpu_capabilities() -> dict[str, Any] | None:
    """``torch.cpu.get_capabilities()`` (torch 2.6 and later), or None where torch cannot say."""
    try:
        import torch

        query = getattr(torch.cpu, "get_capabilities", None)
        return dict(query()) if query is not None else None
    except Exception:  # noqa: BLE001 - a platform torch cannot query: the caller reads the flags instead
        return None


def cpu_bf16_features(capabilities: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The bf16 instruction sets this CPU has (of :data:`BF16_FEATURES`), as torch detects them,
    else as /proc/cpuinfo lists them."""
    if capabilities is None:
        capabilities = torch_cpu_capabilities()
    if capabilities is not None:
        return tuple(name for name in BF16_FEATURES if capabilities.get(name))
    flags = cpuinfo_flags()
    return tuple(name for name in BF16_FEATURES if name in flags)


def choose_precision(setting: str, device: str, cpu_features: Iterable[str] | None = None) -> Precision:
    """The run's precision for ``training.cpu_autocast`` = ``setting`` on ``device``.

    ``cpu_features`` are the CPU's bf16 instruction sets (default: detected); passing them lets a
    caller (a test) decide for a CPU other than this one.
    """
    if device != "cpu":
        return Precision("off", f"training.cpu_autocast applies to CPU training; {device} keeps its own dtype")
    features = tuple(sorted(cpu_bf16_features() if cpu_features is None else set(cpu_features) & set(BF16_FEATURES)))
    named = " and ".join(features)
    if setting == "off":
        return Precision("off", "float32: training.cpu_autocast is off", features)
    if setting == "bf16":
        how = f"the CPU has {named}" if features else "the CPU has no bf16 instructions, so bf16 is emulated"
        return Precision("bf16", f"bf16 autocast: training.cpu_autocast is bf16 ({how})", features)
    if features:
        return Precision("bf16", f"bf16 autocast: the CPU has {named} (training.cpu_autocast auto)", features)
    return Precision(
        "off",
        "float32: the CPU has neither avx512_bf16 nor amx_bf16, so bf16 would be emulated and slower "
        "(training.cpu_autocast auto)",
        features,
    )


def qlora_precision() -> Precision:
    """A 4-bit QLoRA base on CUDA: its norms are float32 (peft's preparation), its products bf16."""
    return Precision("bf16", "bf16 autocast: the 4-bit QLoRA base computes in bfloat16 (its norms in float32)")


def autocast(precision: Precision, device: str = "cpu") -> contextlib.AbstractContextManager[Any]:
    """The context the forward pass runs in: bf16 autocast, or nothing."""
    if precision.autocast != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device, dtype=torch.bfloat16)
