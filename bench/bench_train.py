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
   the default batching. By default an ESTIMATE from the steps timed in (2a);
   ``--nightly-full`` runs it through the real trainer and prints the measured
   wall time (about 20 minutes on two idle cores: run it in a quiet window).

    .venv/bin/python bench/bench_train.py [--steps 4] [--seq 128] [--threads 0] [--rounds 4] [--parts 1234]
                                          [--nightly-full]

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

from tests.train_support import AUSTEN, austen_paragraphs, load_embedded  # noqa: E402
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


def austen_examples(tokenizer, count: int, max_tokens: int) -> list[dict]:
    """Rewrite-shaped examples from real Austen paragraphs of every length, cut to ``max_tokens``."""
    out = []
    for text in austen_paragraphs("emma.txt", min_words=6)[:count]:
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
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 13 (default: all)")
    args = parser.parse_args()

    import torch

    model, tokenizer = load_embedded()
    from voiced.trainer.peft_backend import set_threads

    threads = set_threads(settings(args.threads))
    print(f"SmolLM2-135M float32 on CPU, {threads} torch thread(s), LoRA r=16 q/k/v/o, torch {torch.__version__}")

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
        nightly_report(model, emma, rates, args.nightly_full, threads)


def overhead_report(model, tokenizer, steps: int, seq: int, rounds: int, threads: int) -> None:
    """Part 1: the trainer's tokens/s beside the bare loop's, steps paired; the two model copies swap
    roles every round so neither loop keeps the better-placed copy."""
    import copy

    fixed = fixed_length_examples(tokenizer, 4 * (steps + 1), seq)
    fixed_batches = [
        {
            "input_ids": [e["input_ids"] for e in fixed[i : i + 4]],
            "labels": [e["labels"] for e in fixed[i : i + 4]],
            "attention_mask": [[1] * seq for _ in fixed[i : i + 4]],
        }
        for i in range(0, len(fixed), 4)
    ]
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


def nightly_report(model, emma, rates: dict, full: bool, threads: int) -> None:
    """Part 4: the nightly workload, measured (``full``) or estimated from part 2's bucketed steps."""
    default = TrainingSettings().batching
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
    elif "a" not in rates:
        print("   (no estimate: part 2 did not run; --nightly-full measures it)")
    else:
        estimate = rates["a"][default]
        print(
            f"   ESTIMATE from the {default} steps timed in (2a), not a full run (--nightly-full runs it): "
            f"{tokens / estimate / 60:.1f} minutes at {estimate:.1f} tokens/s "
            "(design.md reference: about 230 tokens/s on an idle 2-core machine)"
        )


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
