"""LoRA training with mlx-lm on Apple Silicon.

mlx and mlx-lm are imported only inside :meth:`MlxBackend.train`, so this
module imports everywhere; the data and settings conversions around them are
plain Python and tested on any machine. The best adapter is written in
mlx-lm's format (``adapters.safetensors`` + ``adapter_config.json``) into
``out_dir/best``; ``voiced.trainer.mlx_convert`` turns it into a PEFT adapter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voiced.config import TrainingSettings
from voiced.trainer import stopping
from voiced.trainer.backends import Progress, ShouldStop
from voiced.trainer.checkpoint import discard_partial, save_best
from voiced.trainer.results import TrainingError, TrainResult
from voiced.trainer.schedule import resolve_learning_rate, steps_per_epoch, total_steps, warmup_steps
from voiced.trainer.tokenize import IGNORE_INDEX

MLX_ADAPTER_FILE = "adapters.safetensors"


def to_mlx_example(example: Any) -> tuple[list[int], int]:
    """(tokens, offset) as mlx-lm's batches take them: the loss covers tokens from ``offset`` on.

    mlx-lm can only leave out a prefix, so the ignored labels must be exactly
    the prompt at the start (which is how voiced builds examples).
    """
    ids = list(example["input_ids"] if isinstance(example, dict) else example.input_ids)
    labels = list(example["labels"] if isinstance(example, dict) else example.labels)
    if len(ids) != len(labels):
        raise ValueError(f"input_ids ({len(ids)}) and labels ({len(labels)}) differ in length")
    offset = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))
    if any(label != token for label, token in zip(labels[offset:], ids[offset:], strict=False)):
        raise ValueError("mlx-lm can only mask a prompt prefix; this example masks tokens inside the response")
    return ids, offset


class MlxDataset:
    """A list of (tokens, offset) that mlx-lm's trainer can index (and 'process', a no-op here)."""

    def __init__(self, examples: Sequence[Any]) -> None:
        self.items = [to_mlx_example(ex) for ex in examples]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        return self.items[index]

    def process(self, item: tuple[list[int], int]) -> tuple[list[int], int]:
        return item


def mlx_lora_parameters(settings: TrainingSettings) -> dict[str, Any]:
    """mlx-lm's LoRA config for our settings: its ``scale`` is PEFT's alpha / r."""
    params: dict[str, Any] = {
        "rank": settings.lora_rank,
        "scale": settings.lora_alpha / settings.lora_rank,
        "dropout": settings.lora_dropout,
    }
    if settings.target_modules != ["all-linear"]:
        attention = {"q_proj", "k_proj", "v_proj", "o_proj"}
        params["keys"] = [
            f"self_attn.{name}" if name in attention else f"mlp.{name}" for name in settings.target_modules
        ]
    return params


def lm_warmup_ignored(settings: TrainingSettings, prose: Sequence[Any]) -> str:
    """What the MLX backend tells the writer when a language-modelling stage was asked for: mlx-lm's
    trainer runs one dataset, so the run is the rewrite stage alone (empty when nothing was asked)."""
    if settings.lm_warmup_fraction <= 0 or not prose:
        return ""
    return (
        f"The MLX backend has no language-modelling stage: training.lm_warmup_fraction = "
        f"{settings.lm_warmup_fraction} is ignored and every step trains the rewrite and continue examples."
    )


def mlx_adapter_config(settings: TrainingSettings, base_model: str) -> dict[str, Any]:
    """The adapter_config.json mlx-lm writes beside its adapters (every layer adapted)."""
    return {
        "fine_tune_type": "lora",
        "num_layers": -1,
        "model": base_model,
        "lora_parameters": mlx_lora_parameters(settings),
    }


class _Stop(Exception):
    """Raised from the callback to end mlx-lm's loop for one of our reasons."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MlxBackend:
    """mlx-lm on Apple Silicon (macOS arm64)."""

    name = "mlx"

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
        import mlx.core as mx
        import mlx.optimizers as optim
        from mlx.utils import tree_flatten
        from mlx_lm import load
        from mlx_lm.tuner.trainer import TrainingArgs, TrainingCallback
        from mlx_lm.tuner.trainer import train as mlx_train
        from mlx_lm.tuner.utils import linear_to_lora_layers

        if not tokenized_train:
            raise TrainingError("There are no training examples; add prose to the voice's folders first.")
        out_dir = Path(out_dir)
        discard_partial(out_dir)
        mx.random.seed(settings.seed)
        folder = mlx_model_folder(model_spec)
        model, _tokenizer = load(str(folder))
        model.freeze()
        linear_to_lora_layers(model, -1, mlx_lora_parameters(settings))
        lr = resolve_learning_rate(settings, model.args.hidden_size)
        total = total_steps(len(tokenized_train), settings)
        warmup = warmup_steps(total, settings.warmup_fraction)
        schedule = optim.join_schedules(
            [optim.linear_schedule(0.0, lr, max(warmup, 1)), optim.linear_schedule(lr, 0.0, max(total - warmup, 1))],
            [max(warmup, 1)],
        )
        optimizer = optim.AdamW(learning_rate=schedule, weight_decay=settings.weight_decay)
        train_set, valid_set = MlxDataset(tokenized_train), MlxDataset(tokenized_valid)
        per_epoch = steps_per_epoch(len(train_set), settings.batch_size)
        early = stopping.EarlyStopping(settings.patience)
        budget = stopping.TimeBudget(settings.max_minutes)
        state: dict[str, Any] = {"step": 0, "tokens": 0, "losses": [], "valid": [], "adapter": None}

        def keep(step: int, loss: float) -> None:
            def write(target: Path) -> None:
                mx.save_safetensors(str(target / MLX_ADAPTER_FILE), dict(tree_flatten(model.trainable_parameters())))
                (target / "adapter_config.json").write_text(
                    json.dumps(mlx_adapter_config(settings, str(model_spec)), indent=2), encoding="utf-8"
                )

            state["adapter"] = save_best(
                out_dir, write, {"step": step, "valid_loss": loss, "learning_rate": lr, "format": "mlx"}
            )

        class Report(TrainingCallback):
            def on_train_loss_report(self, info: dict) -> None:
                step = int(info["iteration"])
                state["step"], state["tokens"] = step, int(info.get("trained_tokens", 0))
                state["losses"].append(float(info["train_loss"]))
                elapsed = budget.elapsed
                progress(
                    {
                        "event": "step",
                        "step": step,
                        "total_steps": total,
                        "loss": float(info["train_loss"]),
                        "lr": float(info.get("learning_rate", lr)),
                        "tokens_per_second": float(info.get("tokens_per_second", 0.0)),
                        "eta_seconds": round(elapsed / step * (total - step), 1),
                        "epoch": round(step / max(per_epoch, 1), 3),
                        "stage": "rewrite",
                    }
                )
                if should_stop():
                    raise _Stop(stopping.CANCELLED)
                if budget.exhausted:
                    raise _Stop(stopping.MAX_MINUTES)

            def on_val_loss_report(self, info: dict) -> None:
                step, loss = int(info["iteration"]), float(info["val_loss"])
                state["valid"].append((step, loss))
                improved = early.update(step, loss)
                if improved:
                    keep(step, loss)
                progress({"event": "eval", "step": step, "valid_loss": loss, "best": early.best, "improved": improved})
                if early.should_stop:
                    raise _Stop(stopping.EARLY_STOPPING)

        note = lm_warmup_ignored(settings, prose)
        if note:
            progress({"event": "warning", "message": note})
        # `training.batching` does not apply here: mlx-lm's iterate_batches sorts the examples by length and
        # pads each batch itself, which is bucketing; the start event says so.
        progress(
            {
                "event": "start",
                "backend": "mlx",
                "total_steps": total,
                "epochs": settings.epochs,
                "examples": len(train_set),
                "valid_examples": len(valid_set),
                "batch_size": settings.batch_size,
                "batching": "mlx-lm (length-sorted; training.batching is ignored)",
                "learning_rate": lr,
                "device": "mlx",
                "dtype": "model",
            }
        )
        longest = max(len(tokens) for tokens, _ in train_set.items)
        args = TrainingArgs(
            batch_size=settings.batch_size,
            iters=total,
            val_batches=-1,
            steps_per_report=1,
            steps_per_eval=settings.eval_every,
            steps_per_save=10**9,
            adapter_file=str(out_dir / ".mlx-latest.safetensors"),
            max_seq_length=longest,
        )
        stopped = stopping.MAX_STEPS if settings.max_steps and total == settings.max_steps else stopping.COMPLETED
        started = time.monotonic()
        try:
            mlx_train(
                model=model,
                optimizer=optimizer,
                train_dataset=train_set,
                val_dataset=valid_set,
                args=args,
                training_callback=Report(),
            )
        except _Stop as stop:
            stopped = stop.reason
        except MemoryError as exc:
            raise TrainingError(
                "Training ran out of memory; lower `training.batch_size` or "
                "`dataset.max_example_tokens` and train again."
            ) from exc
        finally:
            (out_dir / ".mlx-latest.safetensors").unlink(missing_ok=True)
        seconds = time.monotonic() - started
        progress(
            {
                "event": "end",
                "stopped": stopped,
                "step": state["step"],
                "total_steps": total,
                "best_step": early.best_step,
                "best_valid_loss": early.best,
                "adapter_dir": str(state["adapter"]) if state["adapter"] else None,
                "seconds": round(seconds, 3),
                "tokens_per_second": round(state["tokens"] / max(seconds, 1e-9), 2),
            }
        )
        return TrainResult(
            backend="mlx",
            adapter_dir=state["adapter"],
            stopped=stopped,
            steps=state["step"],
            total_steps=total,
            best_step=early.best_step,
            best_valid_loss=early.best,
            learning_rate=lr,
            seconds=seconds,
            tokens=state["tokens"],
            train_losses=state["losses"],
            valid_losses=state["valid"],
            device="mlx",
            dtype="model",
            adapter_format="mlx",
        )


def mlx_model_folder(model_spec: Any) -> Path:
    """A Hugging Face folder mlx-lm can load: local folders as they are, GGUF files exported once to a cache."""
    from voiced.models import resolve_base_model

    ref = resolve_base_model(model_spec) if isinstance(model_spec, str) else model_spec
    if ref.kind == "hf_dir":
        return ref.path
    if ref.kind == "hf_id":
        raise TrainingError(
            "The mlx backend trains local models only; download the model folder and set "
            '`base_model` to its path, or set `training.backend` to "peft".'
        )
    from voiced.paths import get_paths

    cache = get_paths().cache_dir / "mlx-base" / Path(ref.location).stem
    if not (cache / "config.json").is_file():
        import torch

        from voiced.trainer.base_model import load_base_model

        model, tokenizer = load_base_model(ref, "cpu", torch.float32)
        model.save_pretrained(cache, safe_serialization=True)
        tokenizer.save_pretrained(cache)
    return cache
