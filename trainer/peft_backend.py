"""LoRA training with PEFT + transformers: CUDA (bf16 where supported), MPS (float32), CPU (float32
weights, bf16 autocast where the CPU has bf16 instructions: :mod:`voiced.trainer.precision`).

Before the weights load, :mod:`voiced.trainer.memory_plan` estimates the memory training will take and
chooses how it runs: the device's dtype, with activation checkpointing if that is what fits, or on CUDA a
4-bit QLoRA base (bitsandbytes nf4, double quantisation, bf16 compute); or it stops saying what to change.
When the backend loads the base, the plan is the ``memory_plan`` progress event, before the load; for a
model the caller loaded, the start event carries it (``memory_plan``, ``quantized``, ``memory``).

The loop reports through ``progress`` and never displays anything; it stops on
``should_stop``, ``max_steps``, ``max_minutes`` or patience, and keeps the best
adapter as safetensors in ``out_dir/best``. "Best" is by the loss on a fixed
sample of the validation split (``training.valid_sample`` examples), scored
every ``eval_every`` steps; once training ends, the kept adapter is scored on
the whole split and that is the run's ``best_valid_loss``.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from voiced.config import TrainingSettings
from voiced.trainer import stopping
from voiced.trainer.backends import Progress, ShouldStop
from voiced.trainer.checkpoint import discard_partial, save_best
from voiced.trainer.memory_plan import (
    GGUF_NO_QUANTIZATION,
    MemoryPlan,
    Workload,
    device_memory,
    plan_memory,
    shape_from_config,
    shape_of_base,
    shape_of_model,
    workload,
)
from voiced.trainer.precision import Precision, autocast, choose_precision, qlora_precision
from voiced.trainer.response_loss import response_loss
from voiced.trainer.results import TrainingError, TrainResult
from voiced.trainer.schedule import (
    lm_warmup_steps,
    resolve_learning_rate,
    staged_lr_factor,
    steps_per_epoch,
    total_steps,
)
from voiced.trainer.tokenize import (
    IGNORE_INDEX,
    epoch_batches,
    example_field,
    model_inputs,
    pad_batch,
    real_tokens,
    rows_per_epoch,
)

LM_STAGE, REWRITE_STAGE = "lm", "rewrite"  # the stages a step event names


def pick_torch_device(preference: str = "auto") -> str:
    """cuda, then mps, then cpu for "auto"; a named device must be present (a TrainingError if not)."""
    from voiced.trainer.base_model import BaseModelError, pick_device

    try:
        return pick_device(preference)
    except BaseModelError as exc:
        raise TrainingError(str(exc)) from exc


def training_dtype(device: str) -> Any:
    """bf16 on CUDA devices that support it; float32 elsewhere (CPU and MPS train stably in it)."""
    from voiced.trainer.base_model import dtype_for

    return dtype_for(device)


def set_threads(settings: TrainingSettings) -> int:
    """One torch thread per core this process may use, unless configured."""
    import torch

    threads = settings.torch_threads
    if threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def target_modules(settings: TrainingSettings) -> Any:
    """The configured layer names, or PEFT's "all-linear" shorthand."""
    if settings.target_modules == ["all-linear"]:
        return "all-linear"
    return list(settings.target_modules)


def lora_config(settings: TrainingSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_rank,
        # PEFT annotates lora_alpha as int, yet only divides by it (scaling = alpha / r): a float is as good.
        lora_alpha=settings.lora_alpha,  # type: ignore[arg-type]
        lora_dropout=settings.lora_dropout,
        target_modules=target_modules(settings),
        bias="none",
        task_type="CAUSAL_LM",
    )


def to_tensors(batch: Any, device: str) -> dict[str, Any]:
    """A batch's model inputs as long tensors on ``device``: input_ids, labels and attention_mask, or for a
    packed batch input_ids, labels and position_ids (see :func:`voiced.trainer.tokenize.model_inputs`)."""
    import torch

    if not isinstance(batch, dict):
        batch = {
            name: getattr(batch, name)
            for name in ("input_ids", "labels", "attention_mask", "position_ids")
            if hasattr(batch, name)
        }
    return {
        name: torch.as_tensor(value, dtype=torch.long).to(device) if isinstance(value, list) else value
        for name, value in model_inputs(batch).items()
    }


def keeps_packed_examples_apart(model: Any) -> bool:
    """Whether the model keeps packed examples apart: two short sequences packed into one row (positions
    restarting, no attention mask) give the second the same logits as running it alone. transformers'
    own architectures do (masking_utils reads the positions); a model whose forward ignores them would
    let examples attend to each other, so packing falls back to bucketing for it."""
    import torch

    device = next(model.parameters()).device
    first, second = [11, 12, 13, 14, 15, 16], [21, 22, 23, 24]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = model(input_ids=torch.tensor([second], device=device), use_cache=False).logits[0].float()
            packed = (
                model(
                    input_ids=torch.tensor([first + second], device=device),
                    use_cache=False,
                    position_ids=torch.tensor([list(range(6)) + list(range(4))], device=device),
                )
                .logits[0, len(first) :]
                .float()
            )
    finally:
        model.train(was_training)
    return float((alone - packed).abs().max()) <= 0.02 * max(1.0, float(alone.abs().max()))


# What torch's allocators say when they fail with a plain RuntimeError: the CPU allocator
# ("DefaultCPUAllocator: can't allocate memory" / "not enough memory"), MPS ("MPS backend out of memory"),
# C++'s std::bad_alloc as torch passes it on, and oneDNN's bf16 matrix products on a CPU, which say only
# "could not create a primitive" when their buffers cannot be allocated (tests/test_train_out_of_memory.py).
_ALLOCATOR_FAILURES = (
    "can't allocate memory",
    "not enough memory",
    "out of memory",
    "bad_alloc",
    "could not create a primitive",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure: Python's MemoryError, torch's OutOfMemoryError (CUDA),
    or the RuntimeError that the CPU and MPS allocators raise instead."""
    import torch

    if isinstance(exc, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc) for words in _ALLOCATOR_FAILURES)


def evaluate(model: Any, batches: Iterable[dict[str, Any]], precision: Precision | None = None) -> float:
    """Mean loss per response token over the validation batches, in the run's precision."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in batches:
            n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            if n == 0:
                continue
            with autocast(precision or Precision("off", ""), _device_type(batch)):
                loss = response_loss(model, batch)
            total += float(loss) * n
            count += n
    model.train()
    return total / count if count else float("nan")


def _device_type(batch: dict[str, Any]) -> str:
    return str(batch["input_ids"].device.type)


def valid_sample(examples: Sequence[Any], size: int, seed: int) -> list[Any]:
    """The validation examples scored during training: ``size`` of them, drawn once with ``seed`` (so every
    evaluation of a run, and every run with the same split and seed, scores the same ones), in the split's
    order; the whole split when ``size`` is 0 or not smaller than it."""
    if size <= 0 or size >= len(examples):
        return list(examples)
    chosen = sorted(random.Random(seed).sample(range(len(examples)), size))
    return [examples[i] for i in chosen]


class PeftBackend:
    """PEFT + transformers on CUDA, MPS or CPU."""

    name = "peft"

    def train(
        self,
        model_spec: Any,
        tokenized_train: Sequence[Any],
        tokenized_valid: Sequence[Any],
        settings: TrainingSettings,
        out_dir: Path,
        progress: Progress,
        should_stop: ShouldStop,
        prose: Sequence[Any] = (),
    ) -> TrainResult:
        """``prose`` (plain-text examples, see :mod:`voiced.trainer.prose`) is trained on first for
        ``settings.lm_warmup_fraction`` of the steps; without any the run is the rewrite stage alone."""
        if not tokenized_train:
            raise TrainingError("There are no training examples; add prose to the voice's folders first.")
        device = pick_torch_device(settings.device)
        precision = choose_precision(settings.cpu_autocast, device)
        seq_len = longest_example(tokenized_train, prose)
        set_threads(settings)
        seed_everything(settings.seed)
        if _is_module(model_spec):  # loaded already: the plan comes with the start event, which stays first
            plan = plan_for_model(model_spec, settings, device, seq_len, precision)
            base, owned = _to_device(model_spec, device, plan), False
        else:
            base, _tokenizer, plan = load_for_training(model_spec, settings, device, seq_len, progress)
            owned = True
        dtype = next(base.parameters()).dtype if plan.quantized else training_dtype(device)
        if plan.quantized:
            prepare_quantized(base)
            precision = qlora_precision()
        from peft import get_peft_model

        model = get_peft_model(base, lora_config(settings))
        every = settings.activation_checkpointing or (1 if plan.checkpointing else 0)
        recompute = _checkpoint_layers(model, every)
        settings = dataclasses.replace(settings, activation_checkpointing=every if recompute else 0)
        try:
            run = _Run(
                model,
                tokenized_train,
                tokenized_valid,
                settings,
                Path(out_dir),
                progress,
                should_stop,
                device,
                dtype,
                prose,
                precision,
                plan,
            )
            return run.execute()
        finally:
            if recompute:
                _stop_checkpointing(model)
            if not owned:
                model.unload()  # give the caller back its model without LoRA layers


def _is_module(model_spec: Any) -> bool:
    import torch

    return isinstance(model_spec, torch.nn.Module)


def _to_device(model: Any, device: str, plan: MemoryPlan) -> Any:
    """A caller's loaded model on the training device in its dtype (a 4-bit model is where it was loaded)."""
    if plan.quantized:
        return model
    return model.to(device=device, dtype=training_dtype(device))


def longest_example(*example_sets: Sequence[Any]) -> int:
    """The longest example's tokens: a batch's rows are padded (or packed) to at most this."""
    return max((len(example_field(ex, "input_ids")) for examples in example_sets for ex in examples), default=1)


def _quantized(model: Any) -> bool:
    return bool(getattr(model, "is_loaded_in_4bit", False))


def plan_for_model(
    model: Any, settings: TrainingSettings, device: str, seq_len: int, precision: Precision | None = None
) -> MemoryPlan:
    """The memory plan for a model the caller loaded already: its weights on ``device`` count as free (the
    plan counts them again); it can no longer be loaded 4-bit unless it was."""
    kind = device.split(":")[0]
    resident = sum(p.numel() * p.element_size() for p in model.parameters() if p.device.type == kind)
    if _quantized(model):  # a 4-bit parameter's numel counts packed bytes: the shapes give the count
        shape, quantization, why_not = shape_from_config(model.config.to_dict(), _model_name(model)), "4bit", ""
    else:
        shape, quantization = shape_of_model(model, _model_name(model)), settings.quantization
        why_not = "the base model was loaded unquantised before training" if kind == "cuda" else ""
    return plan_memory(
        shape,
        _workload(settings, seq_len, precision),
        device_memory(device, resident),
        quantization,
        settings.activation_checkpointing > 0,
        why_not,
    )


def _model_name(model: Any) -> str:
    """The model's name as loaded: a hub id, or a folder's (a GGUF's) last part."""
    config = model.config
    name = str(getattr(config, "name_or_path", "") or "")
    return Path(name).name if name.startswith(("/", ".")) else name or str(config.model_type)


def _workload(settings: TrainingSettings, seq_len: int, precision: Precision | None) -> Workload:
    return dataclasses.replace(workload(settings, seq_len), autocast=bool(precision and precision.autocast == "bf16"))


def plan_for_base(
    ref_or_spec: Any, settings: TrainingSettings, device: str, seq_len: int, precision: Precision | None = None
) -> MemoryPlan:
    """The memory plan for a base model not loaded yet, from its GGUF metadata or config.json."""
    from voiced.trainer.base_model import as_ref

    ref = as_ref(ref_or_spec)
    return plan_memory(
        shape_of_base(ref),
        _workload(settings, seq_len, precision),
        device_memory(device),
        settings.quantization,
        settings.activation_checkpointing > 0,
        GGUF_NO_QUANTIZATION if ref.kind == "gguf" else "",
    )


def load_for_training(
    ref_or_spec: Any, settings: TrainingSettings, device: str, seq_len: int, progress: Progress | None = None
) -> tuple[Any, Any, MemoryPlan]:
    """(model, tokenizer, plan): the plan made and reported first, then the base loaded as it says (4-bit onto
    the GPU for QLoRA). A plan that cannot fit raises :class:`~voiced.trainer.memory_plan.MemoryPlanError`
    before anything is loaded; running out of memory while loading is a TrainingError that says the plan."""
    from voiced.trainer.base_model import load_base_model

    plan = plan_for_base(ref_or_spec, settings, device, seq_len, choose_precision(settings.cpu_autocast, device))
    if progress is not None:
        progress(plan.to_event())
    quantization = bnb_4bit_config() if plan.quantized else None
    try:
        model, tokenizer = load_base_model(ref_or_spec, device, training_dtype(device), quantization)
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise TrainingError(
            f"Out of memory while loading the base model, although the memory plan expected it to fit "
            f"({plan.describe()}).",
            "Close programs that hold memory, or choose a smaller base model.",
        ) from exc
    return model, tokenizer, plan


def bnb_4bit_config() -> Any:
    """QLoRA's quantisation: nf4 weights, double-quantised absmax, bf16 compute (bitsandbytes, imported here)."""
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:  # said before transformers says it less clearly
        raise TrainingError(
            "4-bit QLoRA needs bitsandbytes, which is not installed.",
            "Install it with `pip install 'voiced[cuda]'`, or set `training.quantization = \"none\"`.",
        )
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def prepare_quantized(model: Any) -> None:
    """peft's preparation of a 4-bit base (frozen, norms in float32), then the embedding and the head back in
    bf16: peft casts them to float32 too, which for an 8B with a 128k vocabulary is 4 GB more than the plan
    counts, and both are frozen. Checkpointing is turned on by the backend like any run's (non-reentrant)."""
    import torch
    from peft import prepare_model_for_kbit_training

    prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    for module in (model.get_input_embeddings(), model.get_output_embeddings()):
        if module is not None:
            module.to(torch.bfloat16)


def _checkpoint_layers(model: Any, every: int) -> bool:
    """Recompute every ``every``-th decoder layer in the backward pass (transformers' activation
    checkpointing, non-reentrant, dropout masks replayed); whether it is on."""
    inner = model.get_base_model()
    if every <= 0 or not getattr(inner, "supports_gradient_checkpointing", False):
        return False
    inner.activation_checkpointing_enable(every_n_layers=every)
    return True


def _stop_checkpointing(model: Any) -> None:
    inner = model.get_base_model()
    inner.activation_checkpointing_disable()
    if hasattr(inner, "_require_grads_hook"):  # set by the enabling, for PEFT models
        inner.disable_input_require_grads()


class _Run:
    """One training run's state; ``execute`` is the loop."""

    def __init__(
        self,
        model: Any,
        train_set: Sequence[Any],
        valid_set: Sequence[Any],
        settings: TrainingSettings,
        out_dir: Path,
        progress: Progress,
        should_stop: ShouldStop,
        device: str,
        dtype: Any,
        prose: Sequence[Any] = (),
        precision: Precision | None = None,
        plan: MemoryPlan | None = None,
    ) -> None:
        import torch

        self.plan = plan

        self.model, self.train_set, self.valid_set, self.prose = model, train_set, valid_set, list(prose)
        self.settings, self.out_dir, self.progress, self.should_stop = settings, out_dir, progress, should_stop
        self.device, self.dtype = device, dtype
        self.precision = precision or choose_precision(settings.cpu_autocast, device)
        self.device_type = device.split(":")[0]
        self.batching, self.batching_note = settings.batching, ""
        if self.batching == "pack" and not keeps_packed_examples_apart(model):
            self.batching, self.batching_note = "bucket", "this model cannot keep packed examples apart"
        rows = rows_per_epoch(train_set, self.batching)
        self.total = total_steps(rows, settings)
        self.per_epoch = steps_per_epoch(rows, settings.batch_size)
        self.lr = resolve_learning_rate(settings, model.config.hidden_size)
        self.lm_steps = lm_warmup_steps(self.total, settings.lm_warmup_fraction) if self.prose else 0
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=settings.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: staged_lr_factor(step, self.lm_steps, self.total, settings.warmup_fraction)
        )
        self.params = params
        self.early = stopping.EarlyStopping(settings.patience)
        self.step = 0
        self.tokens = 0
        self.train_seconds = 0.0
        self.losses: list[float] = []
        self.valid_losses: list[tuple[int, float]] = []
        self.adapter_dir: Path | None = None
        # The periodic evaluations score a fixed sample; the whole split is scored once, at the end.
        self.sample = valid_sample(valid_set, settings.valid_sample, settings.seed)
        self.sample_is_split = len(self.sample) == len(valid_set)
        self.valid_batches = [to_tensors(b, device) for b in _plain_batches(self.sample, settings.batch_size)]
        self.best_state: dict[str, Any] | None = None  # the kept adapter's LoRA weights, for the final score
        self.best_sample_loss: float | None = None

    def execute(self) -> TrainResult:
        discard_partial(self.out_dir)
        budget = stopping.TimeBudget(self.settings.max_minutes)
        self.progress(
            {
                "event": "start",
                "backend": "peft",
                "total_steps": self.total,
                "epochs": self.settings.epochs,
                "examples": len(self.train_set),
                "valid_examples": len(self.valid_set),
                "stages": {LM_STAGE: self.lm_steps, REWRITE_STAGE: self.total - self.lm_steps},
                "prose_examples": len(self.prose) if self.lm_steps else 0,
                "batch_size": self.settings.batch_size,
                "batching": self.batching,
                **({"batching_note": self.batching_note} if self.batching_note else {}),
                "learning_rate": self.lr,
                "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."),
                **self.precision.to_event(),
                "valid_sample": len(self.sample),
                "activation_checkpointing": self.settings.activation_checkpointing,
                **(self._plan_fields() if self.plan else {}),
            }
        )
        gc.collect()  # what building the examples and loading the model left behind, before the peak
        self.model.train()
        try:
            stopped = self._loop(budget)
        except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(exc):
                raise
            raise TrainingError(
                f"Training ran out of memory at step {self.step + 1} (batch size {self.settings.batch_size}). "
                "Lower `training.batch_size` or `dataset.max_example_tokens` and train again"
                + (f"; the best adapter so far is kept in {self.adapter_dir}." if self.adapter_dir else ".")
                + (f" The memory plan was: {self.plan.describe()}." if self.plan else "")
            ) from exc
        if (
            stopped != stopping.CANCELLED
            and self.valid_set
            and self.step > 0
            and (not self.valid_losses or self.valid_losses[-1][0] != self.step)
        ):
            self._validate()
        if stopped != stopping.CANCELLED and not self.valid_set and self.step > 0:
            self._keep(float("nan"))  # nothing to validate on: the final adapter is the best we have
        best_valid_loss, best_split = self.early.best, self._split_name
        if stopped != stopping.CANCELLED and not self.sample_is_split and self.best_state is not None:
            best_valid_loss, best_split = self._score_whole_split(), "full"
        seconds = budget.elapsed
        result = TrainResult(
            backend="peft",
            adapter_dir=self.adapter_dir,
            stopped=stopped,
            steps=self.step,
            total_steps=self.total,
            best_step=self.early.best_step,
            best_valid_loss=best_valid_loss,
            learning_rate=self.lr,
            seconds=seconds,
            tokens=self.tokens,
            train_losses=self.losses,
            valid_losses=self.valid_losses,
            device=self.device,
            dtype=self._dtype_name,
        )
        self.progress(
            {
                "event": "end",
                "stopped": stopped,
                "step": self.step,
                "total_steps": self.total,
                "best_step": result.best_step,
                "best_valid_loss": result.best_valid_loss,
                "best_valid_split": best_split,
                "adapter_dir": str(self.adapter_dir) if self.adapter_dir else None,
                "seconds": round(seconds, 3),
                "tokens_per_second": round(self.tokens / max(self.train_seconds, 1e-9), 2),
            }
        )
        return result

    def _loop(self, budget: stopping.TimeBudget) -> str:
        if self.lm_steps:
            stopped = self._stage(LM_STAGE, self.prose, self.lm_steps, budget)
            if stopped:
                return stopped
        stopped = self._stage(REWRITE_STAGE, self.train_set, self.total, budget)
        if stopped:
            return stopped
        if (
            self.settings.max_steps > 0
            and self.total == self.settings.max_steps
            and self.total < self.per_epoch * self.settings.epochs
        ):
            return stopping.MAX_STEPS
        return stopping.COMPLETED

    def _stage(self, stage: str, examples: Sequence[Any], end: int, budget: stopping.TimeBudget) -> str | None:
        """Steps on ``examples`` until the global step count reaches ``end``: None then, else why it stopped.
        Only the rewrite stage validates and keeps adapters (the validation set is rewrite and continue
        examples; an adapter from the middle of the warm-up is not a candidate)."""
        import torch

        first = self.step
        per_epoch = steps_per_epoch(rows_per_epoch(examples, self.batching), self.settings.batch_size)
        epoch = 0
        while self.step < end:
            for batch in epoch_batches(
                examples, self.settings.batch_size, self.batching, seed=self.settings.seed + epoch
            ):
                if self.should_stop():
                    return stopping.CANCELLED
                if budget.exhausted:
                    return stopping.MAX_MINUTES
                started = time.perf_counter()
                tensors = to_tensors(batch, self.device)
                with autocast(self.precision, self.device_type):
                    loss = response_loss(self.model, tensors)
                loss.backward()
                if self.settings.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.params, self.settings.max_grad_norm)
                lr = self.optimizer.param_groups[0]["lr"]
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                loss_value = float(loss.detach())
                self.train_seconds += time.perf_counter() - started
                self.step += 1
                self.tokens += real_tokens(batch)
                self.losses.append(loss_value)
                self._report_step(loss_value, lr, (self.step - first) / max(per_epoch, 1), budget, stage)
                if (
                    stage == REWRITE_STAGE
                    and self.valid_set
                    and ((self.step - first) % self.settings.eval_every == 0 or self.step == self.total)
                ):
                    self._validate()
                    if self.early.should_stop:
                        return stopping.EARLY_STOPPING
                if self.step >= end:
                    break
            epoch += 1
        return None

    def _report_step(self, loss: float, lr: float, epoch: float, budget: stopping.TimeBudget, stage: str) -> None:
        per_step = self.train_seconds / self.step
        eta = per_step * (self.total - self.step)
        if budget.remaining is not None:
            eta = min(eta, budget.remaining)
        self.progress(
            {
                "event": "step",
                "step": self.step,
                "total_steps": self.total,
                "loss": round(loss, 5),
                "lr": lr,
                "tokens_per_second": round(self.tokens / max(self.train_seconds, 1e-9), 2),
                "eta_seconds": round(eta, 1),
                "epoch": round(epoch, 3),
                "stage": stage,
            }
        )

    def _plan_fields(self) -> dict[str, Any]:
        assert self.plan is not None
        event = self.plan.to_event()
        return {"memory_plan": event["message"], "quantized": self.plan.quantized, "memory": event}

    @property
    def _split_name(self) -> str:
        """What the periodic evaluations score: "full" (the whole validation split) or "sample"."""
        return "full" if self.sample_is_split else "sample"

    @property
    def _dtype_name(self) -> str:
        if self.plan is not None and self.plan.quantized:
            return "nf4 4-bit base (QLoRA), bf16 compute"
        weights = str(self.dtype).removeprefix("torch.")
        return f"{weights}, bf16 autocast" if self.precision.autocast == "bf16" else weights

    def _validate(self) -> None:
        loss = evaluate(self.model, self.valid_batches, self.precision)
        self.valid_losses.append((self.step, loss))
        improved = self.early.update(self.step, loss)
        if improved:
            self._keep(loss)
            if not self.sample_is_split:  # the final score on the whole split is of this adapter
                self.best_state = {name: p.detach().clone() for name, p in self._trainable()}
        self.progress(
            {
                "event": "eval",
                "step": self.step,
                "valid_loss": round(loss, 5),
                "best": self.early.best,
                "improved": improved,
                "split": self._split_name,
                "examples": len(self.sample),
            }
        )

    def _trainable(self) -> list[tuple[str, Any]]:
        return [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]

    def _score_whole_split(self) -> float:
        """The kept adapter's loss on the whole validation split (its weights put back first), saved with
        it in training_state.json beside the sample's loss that chose it."""
        import torch

        assert self.best_state is not None
        with torch.no_grad():
            for name, p in self._trainable():
                p.copy_(self.best_state[name])
        self.valid_batches = []  # the sample's tensors are not needed any more
        batches = (to_tensors(b, self.device) for b in _plain_batches(self.valid_set, self.settings.batch_size))
        loss = evaluate(self.model, batches, self.precision)
        self.best_sample_loss = self.early.best
        step = self.early.best_step
        self._keep(loss, step=step)
        self.progress(
            {
                "event": "eval",
                "step": step,
                "valid_loss": round(loss, 5),
                "best": loss,
                "improved": False,
                "split": "full",
                "examples": len(self.valid_set),
                "final": True,
            }
        )
        return loss

    def _keep(self, valid_loss: float, *, step: int | None = None) -> None:
        state: dict[str, Any] = {
            "step": self.step if step is None else step,
            "valid_loss": None if math.isnan(valid_loss) else valid_loss,
            "valid_split": None if math.isnan(valid_loss) else self._split_name if step is None else "full",
            "learning_rate": self.lr,
            "total_steps": self.total,
        }
        if self.best_sample_loss is not None:
            state["valid_sample_loss"] = self.best_sample_loss
        # The vocabulary is never resized, so the embeddings are not saved; "auto" would look for the base's
        # config.json (on the Hub, for an id) on every save just to find that out.
        self.adapter_dir = save_best(
            self.out_dir,
            lambda folder: self.model.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False),
            state,
        )


def _plain_batches(examples: Sequence[Any], batch_size: int) -> list[dict[str, list[list[int]]]]:
    """Validation batches in a fixed order, sorted by length so little is padded."""
    ordered = sorted(examples, key=lambda ex: len(example_field(ex, "input_ids")))
    return [pad_batch(ordered[i : i + batch_size]) for i in range(0, len(ordered), batch_size)]
