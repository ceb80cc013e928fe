"""How much memory LoRA training of a base will take, and the plan that fits: bf16 LoRA, QLoRA, or a stop.

Pure arithmetic on the base's shapes (layers, width, heads, vocabulary: from a GGUF's metadata, a
folder's config.json or a loaded model), the LoRA rank and targets, the longest sequence and the batch,
against the device's free memory. No torch at import: ``voiced doctor`` and the tests plan for devices
this machine does not have.

The parts of the estimate (bytes):

- **weights**: every parameter in the training dtype (bf16 on CUDA, float32 on a CPU or MPS); with 4-bit
  QLoRA the decoder's linear layers are nf4 (half a byte a weight, plus the double-quantised absmax per
  block of 64), the embedding and the head stay bf16 (bitsandbytes quantises neither).
- **LoRA**: the adapter's parameters, their gradients and AdamW's two moments, all float32 (PEFT keeps
  adapters in float32 over a bf16 base): 16 bytes a parameter.
- **activations**: what the backward pass needs from every decoder layer, per token: about 12 x hidden
  + 4 x intermediate + 3 x the key/value width values (the inputs of the norms, projections and MLP, the
  attention's output, the LoRA dropout's copies), 2 bytes each in bf16, 4 in float32 and 3 on average
  under a CPU's bf16 autocast (the products bf16, the norms float32). On a CPU or MPS torch's attention keeps
  its scores and probabilities (2 x heads x sequence per token); CUDA's fused attention keeps only a
  log-sum-exp. With activation checkpointing each layer keeps its input and output, and one layer at a time
  is recomputed with its gradients and the backward's temporaries (four layers' worth, fitted to a
  measurement: docs/training.md).
- **logits**: the head's float32 logits. For architectures whose head the loss runs in chunks
  (:mod:`voiced.trainer.response_loss`) a few 64 MiB chunks; for others batch x sequence x vocabulary
  three times over (the logits, their float32 copy and the gradient): 3 GB at 4 x 1,024 with a 256k
  vocabulary.
- **overhead**: CUDA's cuBLAS workspace, the allocator's fragmentation and bitsandbytes' buffers (1 GB);
  on a CPU the process itself (torch, transformers, the tokenizer, oneDNN's buffers: 0.8 GB, measured).

A plan fits when the estimate is at most 90% of the free memory. The order tried on CUDA is bf16, bf16 with
activation checkpointing, then 4-bit QLoRA with checkpointing; on a CPU or MPS the same without QLoRA
(bitsandbytes' 4-bit training is CUDA-only here). When nothing fits, :class:`MemoryPlanError` says what is
needed, what there is and what to change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiced.trainer.response_loss import CHUNK_BYTES
from voiced.trainer.response_loss import PLAIN_HEAD_MODELS as CHUNKED_HEAD_TYPES
from voiced.trainer.results import TrainingError

GB = 1e9
MARGIN = 0.9  # a plan may use this share of the free memory
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4 bits, an 8-bit absmax per 64 weights, a float32 per 256 absmax
CUDA_OVERHEAD = 1.0 * GB
PROCESS_OVERHEAD = 0.8 * GB
BF16, FLOAT32, QLORA = "bf16", "float32", "4bit"
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# transformers reads a GGUF only by dequantising it, and refuses a quantization_config with one.
GGUF_NO_QUANTIZATION = "transformers cannot load a GGUF base 4-bit (it dequantises GGUF weights)"
NO_QUANTIZATION_FIX = (
    "Point `base_model` at the model's safetensors folder (or its hub id) to train it with QLoRA, "
    "or choose a smaller base."
)


class MemoryPlanError(TrainingError):
    """Training would not fit in memory in any way this machine can train: what to change instead."""


@dataclass(frozen=True)
class ModelShape:
    """The shapes the estimate reads; ``parameters`` is counted from the weights where known."""

    name: str
    model_type: str
    n_layers: int
    hidden_size: int
    n_head: int
    n_head_kv: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool = True
    parameters: int = 0
    head_dim: int = 0

    @property
    def kv_width(self) -> int:
        return self.n_head_kv * (self.head_dim or self.hidden_size // self.n_head)

    @property
    def q_width(self) -> int:
        return self.n_head * (self.head_dim or self.hidden_size // self.n_head)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(inputs, outputs) of each linear layer in one decoder layer, by transformers' names."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_width),
            "k_proj": (h, self.kv_width),
            "v_proj": (h, self.kv_width),
            "o_proj": (self.q_width, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_parameters(self) -> int:
        """The decoder's linear weights: what 4-bit quantisation shrinks."""
        return self.n_layers * sum(a * b for a, b in self.linear_shapes().values())

    @property
    def embedding_parameters(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def total_parameters(self) -> int:
        norms = self.n_layers * 2 * self.hidden_size + self.hidden_size
        return self.parameters or self.linear_parameters + self.embedding_parameters + norms

    @property
    def size_label(self) -> str:
        """ "8B", "0.135B": the parameter count as models are named."""
        billions = self.total_parameters / 1e9
        return f"{billions:.2g}B" if billions >= 1 else f"{billions:.3g}B"

    def lora_parameters(self, rank: int, targets: Sequence[str] | str) -> int:
        """A and B of every targeted linear layer: rank x (inputs + outputs) each."""
        names = LINEARS if targets == "all-linear" or list(targets) == ["all-linear"] else list(targets)
        shapes = self.linear_shapes()
        return self.n_layers * sum(rank * sum(shapes[n]) for n in names if n in shapes)


@dataclass(frozen=True)
class Workload:
    """What one optimiser step holds: ``batch_size`` rows of ``seq_len`` tokens, LoRA of ``lora_rank``."""

    seq_len: int
    batch_size: int
    lora_rank: int
    targets: Sequence[str] | str = ("q_proj", "k_proj", "v_proj", "o_proj")
    autocast: bool = False  # float32 weights, matrix products under bf16 autocast (a CPU's default)


@dataclass(frozen=True)
class DeviceMemory:
    """A device's kind ("cuda", "cpu", "mps"), a name for sentences, and its free memory in bytes."""

    kind: str
    free_bytes: float
    total_bytes: float = 0.0
    name: str = ""
    bf16: bool = True  # CUDA: whether the GPU computes in bfloat16 (else training is float32)

    @property
    def what(self) -> str:
        return "this GPU" if self.kind == "cuda" else "this Mac" if self.kind == "mps" else "this machine"


@dataclass(frozen=True)
class Estimate:
    """The estimate of one way to train, by part (bytes)."""

    mode: str  # bf16 | float32 | 4bit
    checkpointing: bool
    parts: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def label(self) -> str:
        how = "QLoRA (4-bit nf4)" if self.mode == QLORA else f"{self.mode} LoRA"
        return how + (" with activation checkpointing" if self.checkpointing else "")


def estimate(shape: ModelShape, work: Workload, device: DeviceMemory, mode: str, checkpointing: bool) -> Estimate:
    """Training memory of ``shape`` doing ``work`` on ``device`` in ``mode`` (bf16, float32 or 4bit)."""
    act_bytes = (3 if work.autocast else 4) if mode == FLOAT32 else 2
    params = shape.total_parameters
    if mode == QLORA:
        weights = shape.linear_parameters * NF4_BYTES + (params - shape.linear_parameters) * 2
    else:
        weights = params * (4 if mode == FLOAT32 else 2)
    lora = shape.lora_parameters(work.lora_rank, work.targets) * 16
    h, tokens = shape.hidden_size, work.seq_len * work.batch_size
    per_token_layer = 12 * h + 4 * shape.intermediate_size + 3 * shape.kv_width
    if device.kind != "cuda":  # the unfused attention keeps scores and probabilities
        per_token_layer += 2 * shape.n_head * work.seq_len
    layer = per_token_layer * tokens * act_bytes
    activations = (shape.n_layers * 2 * h * tokens * act_bytes + 4 * layer) if checkpointing else shape.n_layers * layer
    if shape.model_type in CHUNKED_HEAD_TYPES:
        logits = 3 * CHUNK_BYTES + tokens * h * 4
    else:
        logits = tokens * shape.vocab_size * (min(act_bytes, 2) + 8)
    overhead = CUDA_OVERHEAD if device.kind == "cuda" else PROCESS_OVERHEAD
    parts = {"weights": weights, "lora": lora, "activations": activations, "logits": logits, "overhead": overhead}
    return Estimate(mode, checkpointing, parts)


@dataclass(frozen=True)
class MemoryPlan:
    """The way training will run and why; ``describe()`` is the sentence the job and the doctor report."""

    shape: ModelShape
    work: Workload
    device: DeviceMemory
    chosen: Estimate
    first: Estimate  # the plain way (the device's dtype, no checkpointing), for the sentence
    tried: tuple[Estimate, ...] = field(default_factory=tuple)
    forced: str = ""  # why the choice was not automatic ("training.quantization is 4bit")

    @property
    def quantized(self) -> bool:
        return self.chosen.mode == QLORA

    @property
    def checkpointing(self) -> bool:
        return self.chosen.checkpointing

    @property
    def needed_bytes(self) -> float:
        return self.chosen.total

    def describe(self) -> str:
        """e.g. "Llama-3.1-8B (8B) in bf16 needs about 32 GB (18 GB with activation checkpointing); this GPU
        has 12 GB free: QLoRA (4-bit nf4) with activation checkpointing (about 8.1 GB)"."""
        recomputed = next((way for way in self.tried if way.mode == self.first.mode and way.checkpointing), None)
        also = (
            f" ({_gb(recomputed.total)} with activation checkpointing)"
            if recomputed and not self.first.checkpointing
            else ""
        )
        head = (
            f"{self.shape.name} ({self.shape.size_label}) in {self.first.mode} needs about {_gb(self.first.total)}"
            f"{also}; {self.device.what} has {_gb(self.device.free_bytes)} free"
        )
        if self.chosen is self.first:
            return f"{head}: {self.chosen.label}"
        why = f" ({self.forced})" if self.forced else ""
        return f"{head}: {self.chosen.label}{why} (about {_gb(self.chosen.total)})"

    def to_event(self) -> dict[str, Any]:
        """The ``memory_plan`` progress event."""
        return {
            "event": "memory_plan",
            "plan": self.chosen.label,
            "quantization": "4bit" if self.quantized else "none",
            "activation_checkpointing": self.checkpointing,
            "needed_gb": round(self.chosen.total / GB, 2),
            "free_gb": round(self.device.free_bytes / GB, 2),
            "parts_gb": {name: round(value / GB, 3) for name, value in self.chosen.parts.items()},
            "device": self.device.kind,
            "message": self.describe(),
        }


def _gb(value: float) -> str:
    return f"{value / GB:.2g} GB" if value < 10 * GB else f"{value / GB:.0f} GB"


def plan_memory(
    shape: ModelShape,
    work: Workload,
    device: DeviceMemory,
    quantization: str = "auto",
    checkpointing: bool = False,
    no_quantization: str = "",
) -> MemoryPlan:
    """The first way that fits in ``MARGIN`` of the free memory, or :class:`MemoryPlanError`.

    ``quantization`` is ``training.quantization``: "auto" tries bf16 (float32 off CUDA), then with
    activation checkpointing, then QLoRA (CUDA only); "none" never quantises; "4bit" always does (CUDA
    only). ``checkpointing`` True (``training.activation_checkpointing`` set) keeps it on in every way.
    ``no_quantization`` says why this base cannot be loaded 4-bit (a GGUF), which rules QLoRA out.
    """
    if quantization not in ("auto", "none", QLORA):
        raise MemoryPlanError(f"Unknown training.quantization {quantization!r}.", 'Use "auto", "none" or "4bit".')
    on_cuda = device.kind == "cuda"
    if quantization == QLORA and no_quantization:
        raise MemoryPlanError(f'training.quantization is "4bit", but {no_quantization}.', NO_QUANTIZATION_FIX)
    if quantization == QLORA and not on_cuda:
        raise MemoryPlanError(
            f'training.quantization is "4bit", but 4-bit QLoRA (bitsandbytes) trains only on CUDA; '
            f"this run is on {device.kind}.",
            'Set `training.quantization = "auto"` (or "none") to train in full precision here.',
        )
    plain = BF16 if on_cuda and device.bf16 else FLOAT32
    first = estimate(shape, work, device, plain, checkpointing)
    ways: list[Estimate] = []
    if quantization != QLORA:
        ways.append(first)
        if not checkpointing:
            ways.append(estimate(shape, work, device, plain, True))
    if on_cuda and quantization != "none" and not no_quantization:
        ways.append(estimate(shape, work, device, QLORA, True))
    forced = 'training.quantization is "4bit"' if quantization == QLORA else ""
    for way in ways:
        if way.total <= MARGIN * device.free_bytes:
            return MemoryPlan(shape, work, device, way, first, tuple(ways), forced)
    raise _no_fit(shape, work, device, ways, quantization, no_quantization)


def _no_fit(
    shape: ModelShape,
    work: Workload,
    device: DeviceMemory,
    ways: list[Estimate],
    quantization: str,
    no_quantization: str,
) -> MemoryPlanError:
    smallest = min(ways, key=lambda way: way.total)
    why = ""
    if device.kind != "cuda":
        why = " (4-bit QLoRA would need a CUDA GPU: bitsandbytes' 4-bit training is CUDA-only here)"
    elif no_quantization:
        why = f" (4-bit QLoRA is ruled out: {no_quantization})"
    elif quantization == "none":
        why = ' (training.quantization is "none"; "auto" would try 4-bit QLoRA)'
    return MemoryPlanError(
        f"Training {shape.name} ({shape.size_label}) would not fit in memory: even {smallest.label} needs about "
        f"{_gb(smallest.total)} ({_parts(smallest)}), and {device.what} has {_gb(device.free_bytes)} free{why}.",
        f"Choose a smaller base model (`base_model`), shorter sequences (`dataset.max_example_tokens`, now "
        f"{work.seq_len} tokens at most) or a smaller batch (`training.batch_size`, now {work.batch_size}); "
        "or close programs that hold memory." + (f" {NO_QUANTIZATION_FIX}" if no_quantization else ""),
    )


def _parts(way: Estimate) -> str:
    return ", ".join(f"{name} {_gb(value)}" for name, value in way.parts.items() if value >= 0.05 * GB)


# ---------------------------------------------------------------- shapes


def shape_from_config(config: dict[str, Any], name: str, parameters: int = 0) -> ModelShape:
    """A transformers config (config.json, or ``model.config.to_dict()``)."""
    config = config.get("text_config", config)  # multimodal configs nest the language model's
    n_head = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    return ModelShape(
        name=name,
        model_type=str(config.get("model_type", "unknown")),
        n_layers=int(config["num_hidden_layers"]),
        hidden_size=hidden,
        n_head=n_head,
        n_head_kv=int(config.get("num_key_value_heads") or n_head),
        intermediate_size=int(config.get("intermediate_size") or 4 * hidden),
        vocab_size=int(config["vocab_size"]),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        parameters=parameters,
        head_dim=int(config.get("head_dim") or 0),
    )


def shape_from_gguf(path: Path, name: str = "") -> ModelShape:
    """A GGUF's metadata and tensor sizes (the parameter count is the tensors' elements)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str) -> Any:
        found = reader.get_field(key)
        return None if found is None else found.contents()

    arch = str(value("general.architecture"))
    n_head = int(value(f"{arch}.attention.head_count"))
    tokens = value("tokenizer.ggml.tokens")
    names = {tensor.name for tensor in reader.tensors}
    return ModelShape(
        name=name or str(value("general.name") or path.stem),
        model_type=arch,
        n_layers=int(value(f"{arch}.block_count")),
        hidden_size=int(value(f"{arch}.embedding_length")),
        n_head=n_head,
        n_head_kv=int(value(f"{arch}.attention.head_count_kv") or n_head),
        intermediate_size=int(value(f"{arch}.feed_forward_length")),
        vocab_size=int(value(f"{arch}.vocab_size") or len(tokens or ())),
        tied_embeddings="output.weight" not in names,
        parameters=sum(int(tensor.n_elements) for tensor in reader.tensors),
        head_dim=int(value(f"{arch}.attention.key_length") or 0),
    )


def shape_of_base(ref_or_spec: Any) -> ModelShape:
    """The shape of a voice's base model: the GGUF's metadata, the folder's config.json or a hub id's config."""
    from voiced.trainer.base_model import as_ref

    ref = as_ref(ref_or_spec)
    if ref.kind == "gguf":
        return shape_from_gguf(ref.path, ref.spec)
    if ref.kind == "hf_dir":
        config = json.loads((ref.path / "config.json").read_text(encoding="utf-8"))
        return shape_from_config(config, ref.spec)
    from transformers import AutoConfig

    return shape_from_config(AutoConfig.from_pretrained(ref.location).to_dict(), ref.spec)


def shape_of_model(model: Any, name: str = "") -> ModelShape:
    """A loaded transformers (or PEFT) model: its config and its counted parameters."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    count = sum(p.numel() for p in inner.parameters())
    config = inner.config.to_dict()
    return shape_from_config(config, name or str(config.get("_name_or_path") or config.get("model_type")), count)


def workload(settings: Any, seq_len: int) -> Workload:
    """The workload of ``training`` settings at sequences of at most ``seq_len`` tokens."""
    return Workload(seq_len, settings.batch_size, settings.lora_rank, tuple(settings.target_modules))


# Public shapes of the sizes ``voiced doctor`` speaks of (their config.json files), for planning without them.
KNOWN_SHAPES: dict[str, ModelShape] = {
    "SmolLM2-135M": ModelShape("SmolLM2-135M", "llama", 30, 576, 9, 3, 1536, 49152, True),
    "Qwen2.5-0.5B": ModelShape("Qwen2.5-0.5B", "qwen2", 24, 896, 14, 2, 4864, 151936, True),
    "Qwen2.5-1.5B": ModelShape("Qwen2.5-1.5B", "qwen2", 28, 1536, 12, 2, 8960, 151936, True),
    "Llama-3.2-3B": ModelShape("Llama-3.2-3B", "llama", 28, 3072, 24, 8, 8192, 128256, True),
    "Llama-3.1-8B": ModelShape("Llama-3.1-8B", "llama", 32, 4096, 32, 8, 14336, 128256, False),
    "Llama-3.1-70B": ModelShape("Llama-3.1-70B", "llama", 80, 8192, 64, 8, 28672, 128256, False),
}


def device_memory(device: str, resident_bytes: float = 0.0) -> DeviceMemory:
    """The free memory of ``device`` ("cuda", "cuda:1", "mps", "cpu"): the GPU's free memory as CUDA reports
    it, else the system's available RAM. ``resident_bytes`` (a model already loaded there) counts as free,
    since the estimate counts it again."""
    kind = device.split(":")[0]
    if kind == "cuda":
        import torch

        index = torch.device(device).index or 0
        free, total = torch.cuda.mem_get_info(index)
        return DeviceMemory(
            "cuda",
            free + resident_bytes,
            total,
            torch.cuda.get_device_name(index),
            bool(torch.cuda.is_bf16_supported()),
        )
    import psutil

    memory = psutil.virtual_memory()
    return DeviceMemory(kind, memory.available + resident_bytes, memory.total)
