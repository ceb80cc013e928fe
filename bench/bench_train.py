"""Training benchmark on the embedded SmolLM2-135M (LoRA r=16 on q/k/v/o, float32, CPU).

1. Trainer overhead: tokens/s of ``voiced.trainer.training.train`` beside a bare
   PyTorch + PEFT loop (forward, backward, optimizer step, nothing else) on the
   same weights, batch and sequence length, a trainer step and a bare step in
   turn (target: trainer >= 0.95 of the bare loop).
2. Batching: effective (non-padding) tokens/s with naive padded batches (shuffled,
   padded to the longest in each batch), length-bucketed batches and packed rows
   (``training.batching`` = pad / bucket / pack; target: >= 1.5x over naive), with
   rows padded to the full 256-token budget ("fixed") as a second naive reference, on
   two data sets, up to 256 tokens, batch 4: (a) Emma paragraphs behind a short
   prompt; (b) the real workload, examples from voiced's own dataset builder
   (paragraph / section / document shapes, roughened rewrite prompts and
   continuations) over Emma, fitted by the trainer's tokenizer. The three
   modes' steps are timed in turn, so a change in machine load hits all three;
   the epoch figure is the median padded tokens/s of the timed steps times the
   epoch's padding efficiency, so it does not hang on which few batches were timed.
   On a shared machine, ``--threads 1`` gives the steadier figures.
3. The loss on response tokens only: the trainer's ``response_loss`` (LM head
   applied only where a label is predicted) against the model's own loss, same
   bucketed dataset-builder batches, steps in turn.
4. The nightly workload: 650 Emma passages, 3 epochs, batch 4 x 256 tokens, with
   the default batching. By default an ESTIMATE from timed steps spread over the
   epoch: "before" (float32, the head's logits whole: the trainer until issue 15)
   and "now" (the trainer's defaults on this CPU) in turn, on the same batches;
   ``--nightly-full`` runs it through the real trainer and prints the measured
   wall time (about 20 minutes on two idle cores: run it in a quiet window).
5. Precision: bf16 autocast against float32 on the same dataset-builder batches,
   two copies of the model with the same LoRA initialisation and dropout masks,
   their steps in turn: step time, then the validation loss of both adapters after
   the same steps (scored in float32, and each in its own precision).
6. Peak memory (VmHWM) per batch size at 512 tokens, each configuration a fresh
   process running two steps of the real trainer: "before" (float32, unchunked
   head), "chunked" (float32, the chunked head) and "now" (the trainer's defaults).
7. Other knobs, briefly: torch threads (1 vs all cores) and torch.compile of the
   decoder, each against the trainer's defaults on the same batches in turn.

    .venv/bin/python bench/bench_train.py [--steps 4] [--seq 128] [--threads 0] [--rounds 4] [--parts 1234567]
                                          [--nightly-full] [--precision-steps 40] [--batch-sizes 1,2,4,8]

The first step of every timed run is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.data_support import AUSTEN, austen_paragraphs  # noqa: E402
from tests.train_support import load_embedded  # noqa: E402
from voiced.config import TrainingSettings  # noqa: E402
from voiced.prompts import rewrite_messages  # noqa: E402
from voiced.trainer.tokenize import epoch_batches, padding_efficiency, real_tokens, rows_per_epoch  # noqa: E402

TARGET_OVERHEAD = 0.95
TARGET_BATCHING = 1.5
MODES = ("pad", "bucket", "pack")
NIGHTLY_PASSAGES, NIGHTLY_EPOCHS, NIGHTLY_BATCH, NIGHTLY_TOKENS = 650, 3, 4, 256


def settings(threads: int, **changes) -> TrainingSettings:
    base = TrainingSettings(
        batch_size=4,
        epochs=1,
        eval_every=10**9,
        patience=0,
        max_minutes=0,
        device="cpu",
        torch_threads=threads,
        learning_rate=1e-3,
    )
    return dataclasses.replace(base, **changes)


def fixed_length_examples(tokenizer, count: int, length: int) -> list[dict]:
    """Examples of exactly ``length`` tokens (no padding), prompt masked."""
    text = " ".join(austen_paragraphs())
    ids = tokenizer(text[: count * length * 8], add_special_tokens=False)["input_ids"]
    out = []
    for i in range(count):
        chunk = ids[i * length : (i + 1) * length]
        assert len(chunk) == length, "not enough Austen text for the fixed-length examples"
        out.append({"input_ids": chunk, "labels": [-100] * 8 + chunk[8:]})
    return out


def batches_of_four(fixed: list[dict], seq: int) -> list[dict]:
    """Batches of 4 fixed-length examples, no padding (every row is ``seq`` tokens)."""
    return [
        {
            "input_ids": [e["input_ids"] for e in fixed[i : i + 4]],
            "labels": [e["labels"] for e in fixed[i : i + 4]],
            "attention_mask": [[1] * seq for _ in fixed[i : i + 4]],
        }
        for i in range(0, len(fixed), 4)
    ]


def austen_examples(tokenizer, count: int, max_tokens: int) -> list[dict]:
    """Rewrite-shaped examples from real Austen paragraphs of every length, cut to ``max_tokens``."""
    out = []
    for text in austen_paragraphs("emma", min_words=6)[:count]:
        prompt = tokenizer.apply_chat_template(
            rewrite_messages("Austen.", " ".join(text.split()[:6])), add_generation_prompt=True, tokenize=True
        )
        prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
        response = tokenizer(text + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = (prompt + response)[:max_tokens]
        out.append(
            {
                "input_ids": ids,
                "labels": ([-100] * len(prompt) + response)[:max_tokens],
                "pad_id": tokenizer.pad_token_id or 0,
            }
        )
    return out


@dataclasses.dataclass(frozen=True)
class _Passage:
    section: tuple[str, ...]
    order: int
    text: str
    words: int


@dataclasses.dataclass(frozen=True)
class _Document:
    path: str
    passages: list[_Passage]


def built_examples(tokenizer, count: int, max_tokens: int, novel: str = "emma") -> tuple[list, dict]:
    """The real workload: Emma as a writer's folder (short notes of two or three paragraphs, longer
    documents of two sections), through voiced's dataset builder and the trainer's tokenizer; the
    first ``count`` fitted training examples, and the builder's shape/task counts."""
    from voiced.config import DEFAULT_SYSTEM_PROMPT, DatasetSettings
    from voiced.trainer.dataset import build_dataset
    from voiced.trainer.tokenize import tokenize_examples

    text = (AUSTEN / f"{novel}.txt").read_text(encoding="utf-8")
    paragraphs = [" ".join(block.split()) for block in text.split("\n\n")]
    paragraphs = [p for p in paragraphs if len(p.split()) >= 6]
    docs, at, sizes = [], 0, (2, 8, 3, 12)  # notes and chapters alternate
    while at < len(paragraphs):
        size = sizes[len(docs) % len(sizes)]
        part = paragraphs[at : at + size]
        section = [("Note",) if size < 5 else ("Chapter", "I" if i < size // 2 else "II") for i in range(len(part))]
        docs.append(
            _Document(
                f"{novel}/doc-{len(docs):04d}.md",
                [_Passage(section[i], i, t, len(t.split())) for i, t in enumerate(part)],
            )
        )
        at += size
    dataset = build_dataset(
        "bench",
        docs,
        DEFAULT_SYSTEM_PROMPT,
        DatasetSettings(max_example_tokens=max_tokens),
        count_tokens=lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"]),
    )
    tokenized, _report = tokenize_examples(tokenizer, dataset.examples["train"], max_tokens)
    kept = tokenized[:count]
    by_id = {ex.id: ex for ex in dataset.examples["train"]}
    shapes = dict(Counter(by_id[t.example_id].shape for t in kept))
    tasks = dict(Counter(by_id[t.example_id].task for t in kept))
    return kept, {"shapes": shapes, "tasks": tasks}


def paired_step_times(
    trainer_model, bare_model, examples, batches, threads: int, steps: int
) -> tuple[list[float], list[float]]:
    """(trainer step seconds, bare step seconds), the two loops' steps taken in turn.

    The real trainer runs on ``trainer_model``; after each of its steps (its progress
    event) one bare step runs on ``bare_model``, a separate copy, so a change in
    machine load hits both loops alike. A trainer step is the time from the end of
    the previous bare step to the next progress event: everything the trainer does
    per step, its batching and bookkeeping included. Warm-up steps are dropped.
    """
    import torch
    from peft import get_peft_model

    from voiced.trainer.peft_backend import lora_config
    from voiced.trainer.training import train

    torch.set_num_threads(threads or torch.get_num_threads())
    bare = get_peft_model(bare_model, lora_config(settings(threads)))
    optimizer = torch.optim.AdamW([p for p in bare.parameters() if p.requires_grad], lr=1e-3)
    bare.train()
    trainer_times: list[float] = []
    bare_times: list[float] = []
    resumed = [time.perf_counter()]

    def progress(event: dict) -> None:
        if event["event"] != "step":
            return
        trainer_times.append(time.perf_counter() - resumed[0])
        seconds, _, _ = _bare_step(bare, optimizer, batches[len(bare_times) % len(batches)])
        bare_times.append(seconds)
        resumed[0] = time.perf_counter()

    try:
        with tempfile.TemporaryDirectory() as out:
            train(trainer_model, examples, [], settings(threads, max_steps=steps + 1), Path(out), progress=progress)
    finally:
        bare.unload()
    return trainer_times[1:], bare_times[1:]


def models_own_loss(model, tensors):
    """The loss as transformers computes it: the LM head at every position."""
    return model(**tensors).loss


def _bare_step(peft_model, optimizer, batch, loss=models_own_loss) -> tuple[float, int, int]:
    """(seconds, non-pad tokens, tokens with padding) of one forward, backward and optimizer step."""
    from voiced.trainer.peft_backend import to_tensors

    tensors = to_tensors(batch, "cpu")
    started = time.perf_counter()
    loss(peft_model, tensors).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started, real_tokens(batch), sum(len(row) for row in batch["input_ids"])


def interleaved_samples(
    model, batches_by_mode: dict[str, list], threads: int, losses: dict | None = None
) -> dict[str, list[tuple[float, int, int]]]:
    """Per mode, (seconds, non-pad tokens, tokens with padding) of each batch after the first, the modes' steps
    taken in turn on one PEFT model, so a change in load hits every mode alike; ``losses`` maps a mode to its
    loss function."""
    import torch
    from peft import get_peft_model

    from voiced.trainer.peft_backend import lora_config

    torch.set_num_threads(threads or torch.get_num_threads())
    peft_model = get_peft_model(model, lora_config(settings(threads)))
    try:
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
        peft_model.train()
        out: dict[str, list[tuple[float, int, int]]] = {mode: [] for mode in batches_by_mode}
        for i in range(min(len(b) for b in batches_by_mode.values())):
            for mode, batches in batches_by_mode.items():
                loss = (losses or {}).get(mode, models_own_loss)
                out[mode].append(_bare_step(peft_model, optimizer, batches[i], loss))
        return {mode: samples[1:] for mode, samples in out.items()}
    finally:
        peft_model.unload()


def rate(samples: list[tuple[float, int, int]]) -> float:
    """Non-pad tokens/s over the samples."""
    return sum(tokens for _, tokens, _ in samples) / sum(seconds for seconds, _, _ in samples)


def epoch_rate(samples: list[tuple[float, int, int]], efficiency: float) -> float:
    """Effective tokens/s over a whole epoch: the median of the timed steps' own rates of padded tokens/s
    (one step slowed by another process's burst does not move it) times the epoch's padding efficiency
    (so which few batches were timed does not matter)."""
    return statistics.median(cells / seconds for seconds, _, cells in samples) * efficiency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run (plus one warm-up)")
    parser.add_argument("--seq", type=int, default=128, help="sequence length for the overhead comparison")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per available core)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of paired trainer/bare steps")
    parser.add_argument(
        "--nightly-full",
        action="store_true",
        help="part 4: run the full 650-passage x 3-epoch training instead of estimating (~20 min)",
    )
    parser.add_argument("--parts", default="1234567", help="which parts to run, e.g. 13 (default: all)")
    parser.add_argument("--precision-steps", type=int, default=40, help="part 5: steps each precision trains")
    parser.add_argument("--batch-sizes", default="1,2,4,8", help="part 6: batch sizes measured at 512 tokens")
    parser.add_argument("--memory-worker", default="", help=argparse.SUPPRESS)  # part 6's child: "batch,variant"
    args = parser.parse_args()
    if args.memory_worker:
        memory_worker(args.memory_worker, args.threads)
        return

    import torch

    model, tokenizer = load_embedded()
    from voiced.trainer.peft_backend import set_threads

    threads = set_threads(settings(args.threads))
    from voiced.trainer.precision import choose_precision

    print(f"SmolLM2-135M float32 on CPU, {threads} torch thread(s), LoRA r=16 q/k/v/o, torch {torch.__version__}")
    print(f"trainer default precision here: {choose_precision(TrainingSettings().cpu_autocast, 'cpu').reason}")

    if "1" in args.parts:
        overhead_report(model, tokenizer, args.steps, args.seq, args.rounds, threads)
    emma = austen_examples(tokenizer, NIGHTLY_PASSAGES, NIGHTLY_TOKENS)
    built, mix = built_examples(tokenizer, NIGHTLY_PASSAGES, NIGHTLY_TOKENS)
    rates = {}
    if "2" in args.parts:
        print(
            f"\n2. batching: naive padded vs bucketed vs packed (batch {NIGHTLY_BATCH}, <= {NIGHTLY_TOKENS} tokens, "
            f"{args.steps} timed steps per mode spread over the epoch, taken in turn; effective tokens/s over the "
            "epoch = median padded tokens/s of the steps x the epoch's padding efficiency)"
        )
        for label, examples, note in (
            ("a", emma, f"{len(emma)} Emma paragraphs behind a short rewrite prompt"),
            (
                "b",
                built,
                f"{len(built)} dataset-builder examples from Emma, shapes {mix['shapes']}, tasks {mix['tasks']}",
            ),
        ):
            rates[label] = batching_report(model, examples, label, note, args.steps, threads)
    if "3" in args.parts:
        head_report(model, built, args.steps, threads)
    if "4" in args.parts:
        nightly_report(model, emma, args.steps, args.nightly_full, threads)
    if "5" in args.parts:
        valid, _ = built_examples(tokenizer, 64, NIGHTLY_TOKENS, novel="persuasion")
        precision_report(model, built, valid, args.precision_steps, threads)
    if "6" in args.parts:
        memory_report([int(b) for b in args.batch_sizes.split(",")], threads)
    if "7" in args.parts:
        knobs_report(model, emma, args.steps, threads)


def overhead_report(model, tokenizer, steps: int, seq: int, rounds: int, threads: int) -> None:
    """Part 1: the trainer's tokens/s beside the bare loop's, steps paired; the two model copies swap
    roles every round so neither loop keeps the better-placed copy."""
    import copy

    fixed = fixed_length_examples(tokenizer, 4 * (steps + 1), seq)
    fixed_batches = batches_of_four(fixed, seq)
    copies = [model, copy.deepcopy(model)]
    trainer_times, bare_times, ratios = [], [], []
    for round_ in range(rounds):
        trainer_model, bare_model = copies[round_ % 2], copies[1 - round_ % 2]
        ours, bare = paired_step_times(trainer_model, bare_model, fixed, fixed_batches, threads, steps)
        trainer_times += ours
        bare_times += bare
        ratios.append(sum(bare) / sum(ours))
    tokens = 4 * seq
    ratio = statistics.median(bare_times) / statistics.median(trainer_times)
    print(
        f"\n1. trainer overhead (batch 4 x {seq} tokens, {rounds} rounds of {steps} timed steps, a trainer step "
        "and a bare step in turn)"
    )
    print(
        f"   bare PEFT loop : median {tokens / statistics.median(bare_times):.1f} tokens/s "
        f"(steps {min(bare_times):.2f}-{max(bare_times):.2f} s)"
    )
    print(
        f"   voiced trainer : median {tokens / statistics.median(trainer_times):.1f} tokens/s "
        f"(steps {min(trainer_times):.2f}-{max(trainer_times):.2f} s)"
    )
    print(f"   per round      : {', '.join(f'{r:.3f}' for r in ratios)}")
    print(
        f"   ratio (median steps): {ratio:.3f}  (target >= {TARGET_OVERHEAD}) "
        f"{'OK' if ratio >= TARGET_OVERHEAD else 'BELOW'}"
    )


def unchunked_response_loss(model, inputs):
    """The trainer's loss until issue 15: the head on every labelled position at once, float32."""
    import torch

    from voiced.trainer.response_loss import causal_lm

    inner = causal_lm(model)
    labels = inputs["labels"]
    hidden = inner.model(**{k: v for k, v in inputs.items() if k != "labels"}).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    return torch.nn.functional.cross_entropy(inner.lm_head(hidden[:, :-1][keep]).float(), targets[keep])


def trainer_loss(autocast_setting: str | None = None):
    """The trainer's loss in the precision ``training.cpu_autocast`` = ``autocast_setting`` picks here
    (default: the default setting), as a loss function for :func:`_bare_step`."""
    from voiced.trainer.precision import autocast, choose_precision
    from voiced.trainer.response_loss import response_loss

    precision = choose_precision(autocast_setting or TrainingSettings().cpu_autocast, "cpu")

    def loss(model, tensors):
        with autocast(precision):
            return response_loss(model, tensors)

    loss.precision = precision  # type: ignore[attr-defined]
    return loss


def nightly_report(model, emma, timed_steps: int, full: bool, threads: int) -> None:
    """Part 4: the nightly workload, measured (``full``) or estimated from timed steps of the trainer
    before issue 15 (float32, unchunked head) and now, in turn on the same batches."""
    default = TrainingSettings().batching
    epoch = epoch_batches(emma, NIGHTLY_BATCH, default, seed=1)
    steps = math.ceil(rows_per_epoch(emma, default) / NIGHTLY_BATCH) * NIGHTLY_EPOCHS
    tokens = sum(len(e["input_ids"]) for e in emma) * NIGHTLY_EPOCHS
    print(
        f"\n4. nightly workload: {len(emma)} passages x {NIGHTLY_EPOCHS} epochs, batch {NIGHTLY_BATCH}, "
        f"batching {default!r}: {steps} steps, {tokens} real tokens"
    )
    if full:
        seconds, measured = nightly_run(model, emma, threads)
        print(
            f"   MEASURED, full run through the trainer: {seconds / 60:.1f} minutes wall time, "
            f"{measured:.1f} tokens/s (design.md reference: about 230 tokens/s on an idle 2-core machine)"
        )
        return
    now = trainer_loss()
    batches = spread(epoch, timed_steps + 1)
    samples = interleaved_samples(
        model, {"before": batches, "now": batches}, threads, losses={"before": unchunked_response_loss, "now": now}
    )
    efficiency = padding_efficiency(epoch)
    estimates = {mode: tokens / epoch_rate(samples[mode], efficiency) / 60 for mode in samples}
    print(
        f"   ESTIMATE from {timed_steps} timed steps each, spread over the epoch, taken in turn (not a full run; "
        "--nightly-full runs it); 17.1 min was measured before (issue 15), target < 10 min:"
    )
    print(f"       before (float32, whole head): {estimates['before']:5.1f} minutes")
    print(
        f"       now ({now.precision.compute_dtype} compute, chunked head): {estimates['now']:5.1f} minutes  "
        f"-> {estimates['before'] / estimates['now']:.2f}x faster; scaled to the measured 17.1 min: "
        f"{17.1 * estimates['now'] / estimates['before']:.1f} minutes"
    )


def precision_report(model, train_examples, valid_examples, steps: int, threads: int) -> None:
    """Part 5: bf16 autocast against float32, the same batches, steps in turn, then both adapters scored."""
    import copy

    import torch
    from peft import get_peft_model

    from voiced.trainer.peft_backend import _plain_batches, evaluate, lora_config, to_tensors
    from voiced.trainer.precision import choose_precision
    from voiced.trainer.schedule import staged_lr_factor

    torch.set_num_threads(threads or torch.get_num_threads())
    config = settings(threads)
    batches = []
    while len(batches) < steps:
        batches += epoch_batches(train_examples, NIGHTLY_BATCH, "bucket", seed=config.seed + len(batches))
    batches = batches[:steps]
    runs = {}
    for name, base in (("float32", model), ("bf16", copy.deepcopy(model))):
        torch.manual_seed(config.seed)  # the same LoRA initialisation for both
        peft_model = get_peft_model(base, lora_config(config))
        peft_model.train()
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: staged_lr_factor(i, 0, steps, 0.05))
        loss = trainer_loss("off" if name == "float32" else "bf16")
        runs[name] = {"model": peft_model, "opt": optimizer, "sched": schedule, "loss": loss, "times": []}
    for i, batch in enumerate(batches):
        for name in ("float32", "bf16") if i % 2 == 0 else ("bf16", "float32"):
            run = runs[name]
            torch.manual_seed(config.seed + i)  # the same dropout masks
            tensors = to_tensors(batch, "cpu")
            started = time.perf_counter()
            run["loss"](run["model"], tensors).backward()
            torch.nn.utils.clip_grad_norm_([p for p in run["model"].parameters() if p.requires_grad], 1.0)
            run["opt"].step()
            run["sched"].step()
            run["opt"].zero_grad(set_to_none=True)
            run["times"].append(time.perf_counter() - started)
    valid = [to_tensors(b, "cpu") for b in _plain_batches(valid_examples, NIGHTLY_BATCH)]
    fp32 = choose_precision("off", "cpu")
    scores = {name: evaluate(run["model"], valid, fp32) for name, run in runs.items()}
    own = {name: evaluate(run["model"], valid, run["loss"].precision) for name, run in runs.items()}
    times = {name: statistics.median(run["times"][1:]) for name, run in runs.items()}
    cpu = choose_precision("auto", "cpu").cpu_features or ("no bf16 instructions",)
    speedup = times["float32"] / times["bf16"]
    gap = (scores["bf16"] - scores["float32"]) / scores["float32"]
    print(
        f"\n5. precision: bf16 autocast vs float32 (CPU: {', '.join(cpu)}), {steps} steps each of the same "
        f"dataset-builder batches (bucketed, batch {NIGHTLY_BATCH} <= {NIGHTLY_TOKENS} tokens), in turn; "
        f"validation: {len(valid_examples)} Persuasion examples"
    )
    for name in runs:
        print(
            f"   {name:7}: median step {times[name]:.2f} s; validation loss {scores[name]:.4f} scored in float32, "
            f"{own[name]:.4f} in its own precision"
        )
    verdict = "meets" if speedup >= 1.3 and abs(gap) <= 0.01 else "does NOT meet"
    print(
        f"   bf16 / float32: {speedup:.2f}x faster steps, validation loss {gap:+.2%}: {verdict} the bar for "
        "enabling it by default (>= 1.3x, within 1%)"
    )
    for run in runs.values():
        run["model"].unload()


def memory_worker(spec: str, threads: int) -> None:
    """Part 6's child: two steps of the real trainer at ``batch`` x 512 tokens; prints one JSON line."""
    import json

    batch, variant = spec.split(",")
    size = int(batch)
    model, tokenizer = load_embedded()
    loaded = _status_kb("VmRSS")
    from voiced.trainer import peft_backend
    from voiced.trainer.training import train

    if variant == "before":
        peft_backend.response_loss = unchunked_response_loss
    autocast_setting = "off" if variant in ("before", "chunked") else TrainingSettings().cpu_autocast
    recompute = 1 if variant == "recompute" else TrainingSettings().activation_checkpointing
    examples = fixed_length_examples(tokenizer, size * 2, 512)
    Path("/proc/self/clear_refs").write_text("5")  # the peak from here on: training, not loading
    with tempfile.TemporaryDirectory() as out:
        train(
            model,
            examples,
            [],
            settings(
                threads,
                batch_size=size,
                max_steps=2,
                batching="pad",
                cpu_autocast=autocast_setting,
                activation_checkpointing=recompute,
            ),
            Path(out),
        )
    print(json.dumps({"loaded_kb": loaded, "peak_kb": _status_kb("VmHWM")}))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory_report(batch_sizes: list[int], threads: int) -> None:
    """Part 6: peak resident memory per batch size, a fresh process per configuration."""
    import json
    import subprocess

    print(
        "\n6. peak memory (VmHWM of a fresh process over two trainer steps, the model loaded before), batch x "
        "512 tokens, all but 8 tokens of each row labelled (the worst case for the head); recompute = now with "
        "activation_checkpointing 1"
    )
    variants = ("before", "chunked", "now", "recompute")
    print(f"   {'batch':>5}  " + "  ".join(f"{v:>14}" for v in variants) + "   (GB; the model loaded alone: ...)")
    for size in batch_sizes:
        cells, loaded = [], 0.0
        for variant in variants:
            if variant in ("chunked", "recompute") and size != 4:
                cells.append(f"{'-':>14}")
                continue
            done = subprocess.run(
                [sys.executable, __file__, "--memory-worker", f"{size},{variant}", "--threads", str(threads)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                cells.append(f"{'failed':>14}")
                print(done.stderr[-2000:], file=sys.stderr)
                continue
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            loaded = figures["loaded_kb"] / 1e6
            cells.append(f"{figures['peak_kb'] / 1e6:14.2f}")
        print(f"   {size:>5}  " + "  ".join(cells) + f"   ({loaded:.2f} GB loaded)")


def knobs_report(model, emma, timed_steps: int, threads: int) -> None:
    """Part 7: one thread against all cores, and torch.compile, beside the defaults, steps in turn."""
    import os

    import torch

    batches = spread(epoch_batches(emma, NIGHTLY_BATCH, "bucket", seed=1), timed_steps + 1)
    now = trainer_loss()
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n7. other knobs on the nightly batches ({timed_steps} timed steps each; thread counts one after the other)"
    )
    rates = {}
    for count in sorted({1, cores}):
        torch.set_num_threads(count)
        rates[count] = epoch_rate(interleaved_samples(model, {"now": batches}, count, {"now": now})["now"], 1.0)
    torch.set_num_threads(threads or cores)
    print("   threads: " + ", ".join(f"{n}: {r:.1f} padded tokens/s" for n, r in rates.items()))
    try:
        compiled = compile_samples(model, batches, now, threads)
        print(
            f"   torch.compile(decoder): {compiled['compiled']:.1f} vs eager {compiled['eager']:.1f} padded "
            f"tokens/s ({compiled['compiled'] / compiled['eager']:.2f}x, first compiled step "
            f"{compiled['first']:.0f} s)"
        )
    except Exception as exc:  # noqa: BLE001 - report why compile did not run, keep the bench going
        print(f"   torch.compile(decoder): failed ({type(exc).__name__}: {str(exc)[:200]})")


def compile_samples(model, batches, loss, threads: int) -> dict[str, float]:
    import torch
    from peft import get_peft_model

    from voiced.trainer.peft_backend import lora_config

    peft_model = get_peft_model(model, lora_config(settings(threads)))
    try:
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
        peft_model.train()
        inner = peft_model.get_base_model()
        eager_forward = inner.model.forward
        compiled_forward = torch.compile(inner.model.forward, dynamic=True)
        started = time.perf_counter()
        inner.model.forward = compiled_forward
        _bare_step(peft_model, optimizer, batches[0], loss)
        first = time.perf_counter() - started
        out: dict[str, list] = {"eager": [], "compiled": []}
        for batch in batches[1:]:
            for name, forward in (("eager", eager_forward), ("compiled", compiled_forward)):
                inner.model.forward = forward
                out[name].append(_bare_step(peft_model, optimizer, batch, loss))
        inner.model.forward = eager_forward
        return {"first": first, **{name: epoch_rate(samples, 1.0) for name, samples in out.items()}}
    finally:
        peft_model.unload()


def batching_report(model, examples, label: str, note: str, steps: int, threads: int) -> dict[str, float]:
    """Print padding efficiency (epoch and timed steps) and effective tokens/s of each mode; return the rates."""
    epochs = {mode: epoch_batches(examples, NIGHTLY_BATCH, mode, seed=1) for mode in MODES}
    first = examples[0]
    pad_id = int(first.get("pad_id", 0) if isinstance(first, dict) else first.pad_id)
    epochs["fixed"] = [to_fixed_length(batch, NIGHTLY_TOKENS, pad_id) for batch in epochs["pad"]]
    timed = {mode: spread(batches, steps + 1) for mode, batches in epochs.items()}
    samples = interleaved_samples(model, timed, threads)
    rates = {mode: epoch_rate(samples[mode], padding_efficiency(batches)) for mode, batches in epochs.items()}
    print(f"   ({label}) {note}")
    for mode in ("fixed",) + MODES:
        gain = rates[mode] / rates["pad"]
        if mode == "fixed":
            verdict = " (every row padded to the token budget: the other reference)"
        elif mode == "pad":
            verdict = f" (no padding at all would give at most {1 / padding_efficiency(epochs[mode]):.2f}x)"
        else:
            verdict = (
                f" (target >= {TARGET_BATCHING}) {'OK' if gain >= TARGET_BATCHING else 'BELOW'}; "
                f"{rates[mode] / rates['fixed']:.2f}x fixed-length"
            )
        print(
            f"       {mode:6} {len(epochs[mode]):4} steps/epoch, "
            f"padding efficiency {padding_efficiency(epochs[mode]):.2f}: "
            f"{rates[mode]:6.1f} effective tokens/s over the epoch ({rate(samples[mode]):6.1f} in the timed steps), "
            f"{gain:.2f}x naive{verdict}"
        )
    return rates


def to_fixed_length(batch: dict, length: int, pad_id: int) -> dict:
    """A padded batch with every row padded to ``length`` (padding="max_length" in transformers'
    terms), the other common naive batching."""
    fixed = {"input_ids": [], "labels": [], "attention_mask": []}
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=False):
        gap = length - len(ids)
        fixed["input_ids"].append(ids + [pad_id] * gap)
        fixed["labels"].append(labels + [-100] * gap)
        fixed["attention_mask"].append(mask + [0] * gap)
    return fixed


def head_report(model, examples, steps: int, threads: int) -> None:
    """Effective tokens/s with the model's own loss (head at every position) and with the trainer's
    response_loss (head only where a label is predicted), on the same bucketed batches in turn."""
    from voiced.trainer.response_loss import response_loss

    batches = spread(epoch_batches(examples, NIGHTLY_BATCH, "bucket", seed=1), steps + 1)
    samples = interleaved_samples(
        model,
        {"own": batches, "response": batches},
        threads,
        losses={"own": models_own_loss, "response": response_loss},
    )
    labelled = sum(1 for b in batches for row in b["labels"] for label in row[1:] if label != -100)
    real = sum(real_tokens(b) for b in batches)
    own, ours = rate(samples["own"]), rate(samples["response"])
    print(
        f"\n3. loss on response tokens only (the {len(examples)} dataset-builder examples, bucketed, "
        f"{steps} timed steps each, in turn; {labelled / real:.0%} of the real tokens are labelled)"
    )
    print(f"   model's own loss (LM head at every position): {own:6.1f} tokens/s")
    print(f"   trainer's response_loss (head on labels only): {ours:6.1f} tokens/s  -> {ours / own:.2f}x")


def spread(batches: list, count: int) -> list:
    """``count`` batches spread evenly over the epoch (the first is the warm-up), so the timed steps
    look like the whole epoch rather than its start."""
    if count >= len(batches):
        return list(batches)
    return [batches[round(i * (len(batches) - 1) / (count - 1))] for i in range(count)] if count > 1 else batches[:1]


def nightly_run(model, examples, threads: int) -> tuple[float, float]:
    """(wall seconds, tokens/s) of the full nightly run through ``voiced.trainer.training.train``."""
    from voiced.trainer.training import train

    ends: list[dict] = []
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        train(
            model,
            examples,
            [],
            settings(threads, epochs=NIGHTLY_EPOCHS, batch_size=NIGHTLY_BATCH, batching=TrainingSettings().batching),
            Path(out),
            progress=lambda event: ends.append(event) if event["event"] == "end" else None,
        )
        seconds = time.perf_counter() - started
    return seconds, float(ends[-1]["tokens_per_second"])


if __name__ == "__main__":
    main()
