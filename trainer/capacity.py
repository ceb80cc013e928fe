"""What this machine can do: which base sizes train within the nightly budget and serve at reading speed.

A short measurement (:func:`measure`): a few real LoRA training steps of the embedded model (SmolLM2-135M)
through the trainer, and a short llama.cpp decode of its GGUF. Then :func:`assess` extrapolates by
parameter count to the sizes a voice may use:

- training compute grows about linearly with the parameters (a forward and backward pass are about
  6 x parameters operations a token), so tokens/s scale by 135M / size; QLoRA's dequantisation and
  activation checkpointing's recomputation each cost about a third more (0.68x measured for
  checkpointing, docs/training.md);
- decoding one token reads every weight once, so it is bound by memory bandwidth: tokens/s scale by the
  bytes of the quantised weights, the same quantisation as the embedded GGUF's at every size. A 135M
  model does not saturate the bandwidth, so the figures for large sizes err on the slow side.

A size *serves at reading speed* at 6 tokens/s or more: people read about 250 words a minute, 4.2 words a
second, and English prose is about 1.3 tokens a word, 5.5 tokens a second. It *trains within the budget*
when the nightly run's tokens (the voice's corpus as rewrite examples, ``training.epochs`` passes) take no
longer than the scheduled run's budget (``scheduler.max_minutes``, else ``training.max_minutes``). It
*fits* when :mod:`voiced.trainer.memory_plan` finds a plan. The recommendation is the largest size that
does all three.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from voiced.config import Config, TrainingSettings
from voiced.trainer.memory_plan import (
    GB,
    KNOWN_SHAPES,
    DeviceMemory,
    MemoryPlanError,
    ModelShape,
    Workload,
    device_memory,
    plan_memory,
)

READING_TOKENS_PER_SECOND = 6.0  # 250 words a minute at about 1.3 tokens a word, rounded up
TOKENS_PER_WORD = 1.3
# A rewrite example holds the system prompt, the instruction and the rough draft besides the response:
# about 2.2 tokens trained on for every token of the writer's prose (the dataset's examples, measured on
# the demo corpus by bench/bench_dataset.py's token counts, rounded).
EXAMPLE_TOKENS_PER_PROSE_TOKEN = 2.2
SLOWER_QLORA = 0.7  # dequantising the 4-bit weights in every product
SLOWER_CHECKPOINTING = 0.68  # docs/training.md, measured
NIGHT_MINUTES = 480.0  # the budget when none is set: a night
ASSUMED_CORPUS_WORDS = 50_000  # when the voice has no scanned prose yet

# The sizes the doctor speaks of, by the public shapes of a model of each.
SIZES: tuple[tuple[str, str], ...] = (
    ("0.135B", "SmolLM2-135M"),
    ("0.5B", "Qwen2.5-0.5B"),
    ("1.5B", "Qwen2.5-1.5B"),
    ("3B", "Llama-3.2-3B"),
    ("8B", "Llama-3.1-8B"),
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Measurement:
    """This machine's figures on the embedded model."""

    device: str
    train_tokens_per_second: float
    decode_tokens_per_second: float
    parameters: int  # the measured model's
    memory: DeviceMemory
    train_seconds: float = 0.0
    decode_seconds: float = 0.0


@dataclass(frozen=True)
class SizeVerdict:
    label: str
    shape: ModelShape
    train_tokens_per_second: float
    nightly_minutes: float
    decode_tokens_per_second: float
    plan: str  # the memory plan's choice, or why it does not fit
    fits: bool
    trains_in_budget: bool
    reads_fast: bool

    @property
    def ok(self) -> bool:
        return self.fits and self.trains_in_budget and self.reads_fast


@dataclass(frozen=True)
class Capacity:
    measurement: Measurement
    budget_minutes: float
    corpus_words: int
    corpus_assumed: bool
    nightly_tokens: float
    verdicts: tuple[SizeVerdict, ...]

    @property
    def recommended(self) -> SizeVerdict | None:
        """The largest size that fits, trains within the budget and serves at reading speed."""
        good = [verdict for verdict in self.verdicts if verdict.ok]
        return good[-1] if good else None


def assess(
    measurement: Measurement,
    corpus_words: int,
    budget_minutes: float,
    settings: TrainingSettings,
    max_example_tokens: int,
    sizes: tuple[tuple[str, str], ...] = SIZES,
) -> Capacity:
    """Each size's training rate, nightly minutes, decode rate and memory plan, from ``measurement``."""
    assumed = corpus_words <= 0
    words = ASSUMED_CORPUS_WORDS if assumed else corpus_words
    nightly_tokens = words * TOKENS_PER_WORD * EXAMPLE_TOKENS_PER_PROSE_TOKEN * settings.epochs
    budget = budget_minutes if budget_minutes > 0 else NIGHT_MINUTES
    work = Workload(max_example_tokens, settings.batch_size, settings.lora_rank, tuple(settings.target_modules))
    verdicts = []
    for label, name in sizes:
        shape = KNOWN_SHAPES[name]
        scale = measurement.parameters / shape.total_parameters
        train_rate = measurement.train_tokens_per_second * scale
        try:
            plan = plan_memory(
                shape, work, measurement.memory, settings.quantization, settings.activation_checkpointing > 0
            )
            fits, plan_text = True, f"{plan.chosen.label}, about {plan.needed_bytes / GB:.1f} GB"
            train_rate *= (SLOWER_QLORA if plan.quantized else 1.0) * (
                SLOWER_CHECKPOINTING if plan.checkpointing else 1.0
            )
        except MemoryPlanError as exc:
            fits, plan_text = False, _first_clause(exc.message)
        minutes = nightly_tokens / max(train_rate, 1e-9) / 60
        decode = measurement.decode_tokens_per_second * scale
        verdicts.append(
            SizeVerdict(
                label,
                shape,
                train_rate,
                minutes,
                decode,
                plan_text,
                fits,
                minutes <= budget,
                decode >= READING_TOKENS_PER_SECOND,
            )
        )
    return Capacity(measurement, budget, words, assumed, nightly_tokens, tuple(verdicts))


def _first_clause(message: str) -> str:
    """ "does not fit: even ... needs about N GB" from a MemoryPlanError's message."""
    _, _, rest = message.partition(": ")
    return "does not fit: " + (rest.split(" (")[0] if rest else message)


# ---------------------------------------------------------------- the measurement


def measure(
    settings: TrainingSettings | None = None,
    say: Say | None = None,
    train_steps: int = 4,
    seq_len: int = 128,
    decode_tokens: int = 32,
    decode_threads: int = 0,
) -> Measurement:
    """A few training steps and a short decode of the embedded model on this machine, with the threads the
    trainer (``settings.torch_threads``) and the daemon (``decode_threads``, ``inference.n_threads``; 0: one
    per core) use. The first training step and a first decode warm up and are not timed; the decode is the
    faster of two runs."""
    say = say or (lambda _line: None)
    settings = settings or TrainingSettings()
    say(f"Measuring training: {train_steps} LoRA steps of the embedded model at {seq_len} tokens")
    device, train_rate, train_seconds, parameters = _measure_training(settings, train_steps, seq_len)
    say(f"Measuring decoding: {decode_tokens} tokens with llama.cpp")
    decode_rate, decode_seconds = _measure_decode(decode_tokens, decode_threads)
    _release_cached_memory(device)  # else torch's cache of the measurement's memory reads as used
    return Measurement(
        device, train_rate, decode_rate, parameters, device_memory(device), train_seconds, decode_seconds
    )


def _release_cached_memory(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def _measure_training(settings: TrainingSettings, steps: int, seq_len: int) -> tuple[str, float, float, int]:
    from voiced.models import EMBEDDED_MODEL
    from voiced.trainer.peft_backend import load_for_training, pick_torch_device
    from voiced.trainer.training import train

    device = pick_torch_device(settings.device)
    run = replace(
        settings,
        max_steps=steps,
        epochs=1,
        eval_every=10**6,
        patience=0,
        max_minutes=0,
        batching="pad",
        lm_warmup_fraction=0.0,
    )
    model, _tokenizer, _plan = load_for_training(EMBEDDED_MODEL, run, device, seq_len)
    parameters = sum(p.numel() for p in model.parameters())
    rows = [list(range(1000 + i, 1000 + i + seq_len)) for i in range(run.batch_size * steps)]
    examples = [{"input_ids": row, "labels": row} for row in rows]
    stamps: list[float] = []

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") == "step":
            stamps.append(time.perf_counter())

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train(model, examples, [], run, Path(out), progress)
    seconds = time.perf_counter() - started
    if len(stamps) < 2:
        raise RuntimeError("the training measurement took fewer than two steps")
    tokens = (len(stamps) - 1) * run.batch_size * seq_len
    return device, tokens / (stamps[-1] - stamps[0]), seconds, parameters


def _measure_decode(tokens: int, threads: int = 0) -> tuple[float, float]:
    from voiced.inference.llama_runtime import open_llama
    from voiced.models import embedded_model_path

    llm = open_llama(embedded_model_path(), n_ctx=256, n_threads=threads or None)
    prompt = "The evening was quiet, and the letters lay unopened on the table while she"
    llm.create_completion(prompt, max_tokens=2, temperature=0.0)  # warm-up: the first call sets up buffers
    best, spent = 0.0, 0.0
    for _ in range(2):
        started = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0)
        seconds = time.perf_counter() - started
        assert isinstance(out, dict)  # stream=False
        best, spent = max(best, int(out["usage"]["completion_tokens"]) / max(seconds, 1e-9)), spent + seconds
    return best, spent


def nightly_budget(config: Config) -> float:
    """The scheduled run's minutes: ``scheduler.max_minutes``, else ``training.max_minutes`` (0: no limit)."""
    return config.scheduler.max_minutes or config.training.max_minutes


def corpus_words(config: Config, voice: str, paths: Any) -> int:
    """The voice's scanned words (0 when nothing is scanned yet)."""
    from voiced.corpus.store import CorpusStore

    try:
        with CorpusStore.open(paths) as store:
            return store.stats(voice).voice(voice).words
    except Exception:  # noqa: BLE001 - no corpus yet (or an unreadable one): the doctor assumes a typical size
        return 0


def this_machine(config: Config, voice: str, paths: Any, say: Say | None = None) -> Capacity:
    """Measure here and assess every size for ``voice``'s corpus and the nightly budget."""
    measurement = measure(config.training, say, decode_threads=config.inference.n_threads)
    return assess(
        measurement,
        corpus_words(config, voice, paths),
        nightly_budget(config),
        config.training,
        config.dataset.max_example_tokens,
    )
