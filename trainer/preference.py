"""The preference stage: DPO (TRL) on the writer's kept and rejected proposals, after supervised training.

Each pair is what a writer did with a proposal: the draft they selected is the
prompt (asked exactly as a rewrite training example asks, ``voiced.prompts``),
their final text is preferred over the proposal they rejected or edited. DPO
continues from the supervised adapter and keeps it as the reference: TRL copies
a loaded PEFT adapter into a frozen "ref" adapter, so the stage only moves the
voice towards what the writer kept, relative to what supervision had learnt,
and needs no second model in memory. ORPO (in TRL's experimental namespace
only) has no reference and is meant to replace the supervised stage, which
here is the part that learns the voice from the whole corpus.

The stage runs only with ``preference_stage = "auto"`` and at least
``preference_min_pairs`` pairs; its adapter is the candidate the gate judges.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from voiced.config import TrainingSettings
from voiced.prompts import rewrite_messages
from voiced.trainer.backends import Progress, ShouldStop
from voiced.trainer.checkpoint import save_best
from voiced.trainer.results import TrainingError
from voiced.trainer.schedule import resolve_learning_rate, warmup_steps

STAGE = "preference"  # the stage a step event names
# DPO moves a policy that already fits the data: a tenth of the supervised peak rate (1e-4 for the embedded
# model) pulls the margins apart within the stage's steps without undoing the supervised adapter.
LEARNING_RATE_FACTOR = 0.1
REFERENCE_ADAPTER = "ref"  # the frozen copy TRL makes of the loaded adapter


class PairLike(Protocol):
    """A preference pair (voiced.corpus.feedback.PreferencePair): the draft, the kept text, the rejected one."""

    @property
    def prompt(self) -> str: ...
    @property
    def chosen(self) -> str: ...
    @property
    def rejected(self) -> str: ...


@dataclass
class PreferenceResult:
    """What the stage did; ``adapter_dir`` is the adapter to export (the supervised one when skipped)."""

    ran: bool
    reason: str
    pairs: int
    adapter_dir: Path | None = None
    steps: int = 0
    seconds: float = 0.0
    beta: float = 0.0
    learning_rate: float = 0.0
    stopped: str = ""  # completed | cancelled
    losses: list[float] = field(default_factory=list)
    margins: list[float] = field(default_factory=list)  # DPO reward margin (chosen - rejected) per step
    accuracies: list[float] = field(default_factory=list)  # share of the step's pairs with a positive margin

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["adapter_dir"] = str(self.adapter_dir) if self.adapter_dir else None
        return data


def skip_reason(settings: TrainingSettings, pairs: int) -> str | None:
    """Why the stage does not run for a voice with ``pairs`` pairs, or None when it does."""
    if settings.preference_stage == "off":
        return 'the preference stage is off (training.preference_stage = "off")'
    if pairs < settings.preference_min_pairs:
        return (
            f"{pairs} preference pair(s) from the writer's feedback; the stage needs at least "
            f"{settings.preference_min_pairs} (training.preference_min_pairs)"
        )
    return None


def pair_records(pairs: Sequence[PairLike], system_prompt: str) -> list[dict[str, Any]]:
    """TRL's conversational preference rows: the rewrite prompt of training, then each answer as the assistant."""
    return [
        {
            "prompt": rewrite_messages(system_prompt, pair.prompt),
            "chosen": [{"role": "assistant", "content": pair.chosen}],
            "rejected": [{"role": "assistant", "content": pair.rejected}],
        }
        for pair in pairs
    ]


def train_preference(
    model: Any,
    tokenizer: Any,
    sft_adapter_dir: Path,
    pairs: Sequence[PairLike],
    settings: TrainingSettings,
    out_dir: Path,
    *,
    system_prompt: str,
    max_length: int,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> PreferenceResult:
    """DPO from the supervised adapter in ``sft_adapter_dir`` on ``pairs``; the result is kept in ``out_dir/best``.

    ``model`` is the loaded base model (no LoRA layers); it is handed back without
    them. Skipped (``ran`` False, the supervised adapter returned) when
    :func:`skip_reason` says so or when cancelled before a step completed.
    """
    progress = progress or (lambda _event: None)
    should_stop = should_stop or (lambda: False)
    reason = skip_reason(settings, len(pairs))
    if reason is not None:
        return PreferenceResult(False, reason, len(pairs), adapter_dir=Path(sft_adapter_dir))
    from peft import PeftModel

    if getattr(model, "hf_quantizer", None) is None:
        # A de-quantised GGUF (base_model._forget_gguf_quantizer) still says is_quantized, and transformers'
        # Trainer refuses such a model; its weights are plain float tensors.
        model.is_quantized = False
    peft_model = PeftModel.from_pretrained(model, str(sft_adapter_dir), is_trainable=True)
    try:
        return _Stage(peft_model, tokenizer, pairs, settings, Path(out_dir), progress, should_stop).run(
            Path(sft_adapter_dir), system_prompt, max_length
        )
    finally:
        peft_model.unload()  # both adapters' layers go; the caller's base model is as it was


class _Stage:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        pairs: Sequence[PairLike],
        settings: TrainingSettings,
        out_dir: Path,
        progress: Progress,
        should_stop: ShouldStop,
    ) -> None:
        self.model, self.tokenizer, self.pairs, self.settings = model, tokenizer, pairs, settings
        self.out_dir, self.progress, self.should_stop = out_dir, progress, should_stop
        self.lr = resolve_learning_rate(settings, model.config.hidden_size) * LEARNING_RATE_FACTOR

    def run(self, sft_dir: Path, system_prompt: str, max_length: int) -> PreferenceResult:
        from datasets import Dataset  # type: ignore[import-untyped]  # TRL's dependency; ships no types
        from transformers.trainer_callback import PrinterCallback
        from trl import DPOConfig, DPOTrainer

        from voiced.private_files import make_private_dirs

        settings = self.settings
        steps = settings.preference_steps
        work = self.out_dir / "trl"
        make_private_dirs(work)
        device = str(next(self.model.parameters()).device)
        args = DPOConfig(
            output_dir=str(work),
            max_steps=steps,
            per_device_train_batch_size=min(settings.batch_size, len(self.pairs)),
            learning_rate=self.lr,
            lr_scheduler_type="linear",
            warmup_steps=warmup_steps(steps, settings.warmup_fraction),
            weight_decay=settings.weight_decay,
            max_grad_norm=settings.max_grad_norm if settings.max_grad_norm > 0 else 1e9,
            beta=settings.preference_beta,
            max_length=max_length,
            seed=settings.seed,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,  # progress goes through the stage's own events
            use_cpu=device == "cpu",
            bf16=device.startswith("cuda") and str(self.model.dtype) == "torch.bfloat16",
            dataloader_num_workers=0,
        )
        events = _Events(self.progress, self.should_stop, steps, len(self.pairs))
        trainer = DPOTrainer(
            model=self.model,
            args=args,
            train_dataset=Dataset.from_list(pair_records(self.pairs, system_prompt)),
            processing_class=self.tokenizer,
            callbacks=[events.callback()],
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict; the events carry them instead
        if REFERENCE_ADAPTER not in self.model.peft_config:
            raise TrainingError(
                "The preference stage could not keep the supervised adapter as its reference; "
                'set training.preference_stage = "off" and train again.'
            )
        self.progress(
            {
                "event": "start",
                "stage": STAGE,
                "total_steps": steps,
                "pairs": len(self.pairs),
                "beta": settings.preference_beta,
                "learning_rate": self.lr,
                "device": device,
            }
        )
        started = time.monotonic()
        trainer.train()
        seconds = time.monotonic() - started
        stopped = "cancelled" if events.cancelled else "completed"
        adapter_dir: Path | None = sft_dir
        if events.steps:
            adapter_dir = save_best(
                self.out_dir,
                lambda folder: self.model.save_pretrained(
                    folder, safe_serialization=True, save_embedding_layers=False, selected_adapters=["default"]
                ),
                {"stage": STAGE, "step": events.steps, "beta": settings.preference_beta, "learning_rate": self.lr},
            )
        self.progress(
            {
                "event": "end",
                "stage": STAGE,
                "stopped": stopped,
                "step": events.steps,
                "total_steps": steps,
                "adapter_dir": str(adapter_dir),
                "seconds": round(seconds, 3),
            }
        )
        ran = events.steps > 0
        return PreferenceResult(
            ran,
            _summary(events) if ran else "the preference stage was cancelled before its first step",
            len(self.pairs),
            adapter_dir=adapter_dir,
            steps=events.steps,
            seconds=round(seconds, 3),
            beta=settings.preference_beta,
            learning_rate=self.lr,
            stopped=stopped,
            losses=events.losses,
            margins=events.margins,
            accuracies=events.accuracies,
        )


def _summary(events: _Events) -> str:
    tail = max(1, len(events.margins) // 5)  # the last fifth of the steps
    margin = sum(events.margins[-tail:]) / tail if events.margins else float("nan")
    accuracy = sum(events.accuracies[-tail:]) / tail if events.accuracies else float("nan")
    return (
        f"DPO on {events.pairs} pairs for {events.steps} steps: the kept text is preferred over the rejected "
        f"proposal on {accuracy:.0%} of the pairs at the end (mean reward margin {margin:.3f})"
    )


class _Events:
    """TRL's step logs as the trainer's progress events (stage "preference"); ``should_stop`` ends the run."""

    def __init__(self, progress: Progress, should_stop: ShouldStop, total: int, pairs: int) -> None:
        self.progress, self.should_stop, self.total, self.pairs = progress, should_stop, total, pairs
        self.steps = 0
        self.cancelled = False
        self.losses: list[float] = []
        self.margins: list[float] = []
        self.accuracies: list[float] = []
        self.started = time.monotonic()

    def callback(self) -> Any:
        from transformers import TrainerCallback

        events = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                if events.should_stop():
                    events.cancelled = True
                    control.should_training_stop = True
                return control

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                events.steps = state.global_step
                if events.should_stop():
                    events.cancelled = True
                    control.should_training_stop = True
                return control

            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
                events.log(state.global_step, dict(logs or {}))
                return control

        return _Callback()

    def log(self, step: int, logs: dict[str, Any]) -> None:
        if "loss" not in logs:  # the run's closing summary (train_runtime, ...)
            return
        loss = float(logs["loss"])
        margin = float(logs.get("rewards/margins", math.nan))
        accuracy = float(logs.get("rewards/accuracies", math.nan))
        self.losses.append(loss)
        self.margins.append(margin)
        self.accuracies.append(accuracy)
        elapsed = time.monotonic() - self.started
        self.progress(
            {
                "event": "step",
                "stage": STAGE,
                "step": step,
                "total_steps": self.total,
                "loss": round(loss, 5),
                "lr": float(logs.get("learning_rate", 0.0)),
                "reward_margin": round(margin, 5),
                "reward_accuracy": round(accuracy, 4),
                "eta_seconds": round(elapsed / max(step, 1) * (self.total - step), 1),
            }
        )


# ---------------------------------------------------------------- measuring a preference


def completion_logps(
    model: Any, tokenizer: Any, pairs: Sequence[PairLike], system_prompt: str
) -> list[tuple[float, float]]:
    """(log p(chosen | prompt), log p(rejected | prompt)) per pair under ``model`` as it is (adapters as set),
    summed over the answer's tokens: what DPO's rewards are made of. Tokenized as TRL tokenizes the pairs."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[tuple[float, float]] = []
    try:
        with torch.no_grad():
            for row in pair_records(pairs, system_prompt):
                prompt = _chat_ids(tokenizer, row["prompt"], generation_prompt=True)
                scores = []
                for answer in ("chosen", "rejected"):
                    full = _chat_ids(tokenizer, row["prompt"] + row[answer], generation_prompt=False)
                    ids = torch.tensor([full], device=device)
                    logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
                    logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
                    scores.append(float(logps[len(prompt) - 1 :].sum()))
                out.append((scores[0], scores[1]))
    finally:
        model.train(was_training)
    return out


def _chat_ids(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class PreferenceScore:
    """How far an adapter prefers the kept texts of held-out pairs, relative to a reference."""

    accuracy: float  # share of pairs whose log-ratio (chosen - rejected) is above the reference's
    mean_log_ratio: float  # mean of (chosen - rejected) under the adapter minus the same under the reference
    raw_accuracy: float  # share of pairs whose kept text is the likelier one outright


def preference_score(
    scores: Sequence[tuple[float, float]], reference: Sequence[tuple[float, float]]
) -> PreferenceScore:
    """DPO's implicit preference of ``scores`` over ``reference`` (both from :func:`completion_logps`)."""
    if not scores or len(scores) != len(reference):
        raise ValueError("scores and reference must be non-empty and of one length")
    shifts = [(c - r) - (rc - rr) for (c, r), (rc, rr) in zip(scores, reference, strict=True)]
    return PreferenceScore(
        accuracy=sum(s > 0 for s in shifts) / len(shifts),
        mean_log_ratio=sum(shifts) / len(shifts),
        raw_accuracy=sum(c > r for c, r in scores) / len(scores),
    )
