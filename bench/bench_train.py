"""Training benchmark on the embedded SmolLM2-135M (LoRA r=16 on q/k/v/o, float32, CPU).

1. Trainer overhead: tokens/s of ``voiced.trainer.training.train`` beside a bare
   PyTorch + PEFT loop (forward, backward, optimizer step, nothing else) on the
   same model, batch and sequence length, run alternately in this process
   (target: trainer >= 0.95 of the bare loop).
2. Bucketing: effective (non-padding) tokens/s on variable-length Austen passages
   (up to 256 tokens, batch 4) with length-bucketed batches vs naive padded
   batches (target: >= 1.5x).
3. The nightly workload: 650 Austen passages, 3 epochs, batch 4 x 256 tokens,
   estimated from the bucketed steps timed in (2) (a full run takes hours on
   two shared cores; the output says it is an estimate).

    .venv/bin/python bench/bench_train.py [--steps 4] [--seq 128] [--threads 0] [--rounds 2]

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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.train_support import austen_paragraphs, load_embedded  # noqa: E402
from voiced.config import TrainingSettings  # noqa: E402
from voiced.prompts import rewrite_messages  # noqa: E402
from voiced.trainer.tokenize import make_batches, padding_efficiency  # noqa: E402

TARGET_OVERHEAD = 0.95
TARGET_BUCKETING = 1.5
NIGHTLY_PASSAGES, NIGHTLY_EPOCHS, NIGHTLY_BATCH, NIGHTLY_TOKENS = 650, 3, 4, 256


def settings(threads: int, **changes) -> TrainingSettings:
    base = TrainingSettings(batch_size=4, epochs=1, eval_every=10**9, patience=0, max_minutes=0, device="cpu",
                            torch_threads=threads, learning_rate=1e-3)
    return dataclasses.replace(base, **changes)


def fixed_length_examples(tokenizer, count: int, length: int) -> list[dict]:
    """Examples of exactly ``length`` tokens (no padding), prompt masked."""
    text = " ".join(austen_paragraphs())
    ids = tokenizer(text[: count * length * 8], add_special_tokens=False)["input_ids"]
    out = []
    for i in range(count):
        chunk = ids[i * length:(i + 1) * length]
        assert len(chunk) == length, "not enough Austen text for the fixed-length examples"
        out.append({"input_ids": chunk, "labels": [-100] * 8 + chunk[8:]})
    return out


def austen_examples(tokenizer, count: int, max_tokens: int) -> list[dict]:
    """Rewrite-shaped examples from real Austen paragraphs of every length, cut to ``max_tokens``."""
    out = []
    for text in austen_paragraphs("emma.txt", min_words=6)[:count]:
        prompt = tokenizer.apply_chat_template(rewrite_messages("Austen.", " ".join(text.split()[:6])),
                                               add_generation_prompt=True, tokenize=True)
        prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
        response = tokenizer(text + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = (prompt + response)[:max_tokens]
        out.append({"input_ids": ids, "labels": ([-100] * len(prompt) + response)[:max_tokens],
                    "pad_id": tokenizer.pad_token_id or 0})
    return out


def trainer_rate(model, examples, threads: int, steps: int) -> float:
    """Tokens/s of the real trainer between its first and last step events."""
    from voiced.trainer.training import train

    stamps: list[float] = []

    def progress(event: dict) -> None:
        if event["event"] == "step":
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        train(model, examples, [], settings(threads, max_steps=steps + 1), Path(out), progress=progress)
    tokens = steps * 4 * len(examples[0]["input_ids"])
    return tokens / (stamps[-1] - stamps[0])


def bare_step_times(model, batches, threads: int) -> list[tuple[float, int]]:
    """(seconds, non-pad tokens) per batch of a hand-written PEFT loop, first batch excluded."""
    import torch
    from peft import get_peft_model

    from voiced.trainer.peft_backend import lora_config

    torch.set_num_threads(threads or torch.get_num_threads())
    peft_model = get_peft_model(model, lora_config(settings(threads)))
    try:
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
        peft_model.train()
        out = []
        for batch in batches:
            tensors = {k: torch.as_tensor(batch[k]) for k in ("input_ids", "labels", "attention_mask")}
            started = time.perf_counter()
            peft_model(**tensors).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            out.append((time.perf_counter() - started, int(tensors["attention_mask"].sum())))
        return out[1:]
    finally:
        peft_model.unload()


def rate(samples: list[tuple[float, int]]) -> float:
    return sum(tokens for _, tokens in samples) / sum(seconds for seconds, _ in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run (plus one warm-up)")
    parser.add_argument("--seq", type=int, default=128, help="sequence length for the overhead comparison")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per available core)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating trainer/bare rounds")
    args = parser.parse_args()

    import torch

    model, tokenizer = load_embedded()
    from voiced.trainer.peft_backend import set_threads

    threads = set_threads(settings(args.threads))
    print(f"SmolLM2-135M float32 on CPU, {threads} torch thread(s), LoRA r=16 q/k/v/o, torch {torch.__version__}")

    # 1. trainer vs bare loop
    fixed = fixed_length_examples(tokenizer, 4 * (args.steps + 1), args.seq)
    fixed_batches = [{"input_ids": [e["input_ids"] for e in fixed[i:i + 4]],
                      "labels": [e["labels"] for e in fixed[i:i + 4]],
                      "attention_mask": [[1] * args.seq for _ in fixed[i:i + 4]]} for i in range(0, len(fixed), 4)]
    trainer_rates, bare_rates = [], []
    for _ in range(args.rounds):
        bare_rates.append(rate(bare_step_times(model, fixed_batches, threads)))
        trainer_rates.append(trainer_rate(model, fixed, threads, args.steps))
    ratio = statistics.median(trainer_rates) / statistics.median(bare_rates)
    print(f"\n1. trainer overhead (batch 4 x {args.seq} tokens, {args.steps} timed steps, {args.rounds} rounds)")
    print(f"   bare PEFT loop : {', '.join(f'{r:.1f}' for r in bare_rates)} tokens/s")
    print(f"   voiced trainer : {', '.join(f'{r:.1f}' for r in trainer_rates)} tokens/s")
    print(f"   ratio (medians): {ratio:.3f}  (target >= {TARGET_OVERHEAD}) {'OK' if ratio >= TARGET_OVERHEAD else 'BELOW'}")

    # 2. bucketing vs naive padding on real variable-length passages
    examples = austen_examples(tokenizer, NIGHTLY_PASSAGES, NIGHTLY_TOKENS)
    bucketed = make_batches(examples, NIGHTLY_BATCH, bucketing=True, seed=1)
    naive = make_batches(examples, NIGHTLY_BATCH, bucketing=False, seed=1)
    print(f"\n2. bucketing ({len(examples)} Emma paragraphs, batch {NIGHTLY_BATCH}, <= {NIGHTLY_TOKENS} tokens, "
          f"{args.steps} timed batches each)")
    print(f"   padding efficiency over the epoch: bucketed {padding_efficiency(bucketed):.2f}, "
          f"naive {padding_efficiency(naive):.2f} (predicted gain {padding_efficiency(bucketed) / padding_efficiency(naive):.2f}x)")
    bucket_samples = bare_step_times(model, bucketed[:args.steps + 1], threads)
    naive_samples = bare_step_times(model, naive[:args.steps + 1], threads)
    gain = rate(bucket_samples) / rate(naive_samples)
    print(f"   effective tokens/s: bucketed {rate(bucket_samples):.1f}, naive {rate(naive_samples):.1f}; "
          f"gain {gain:.2f}x (target >= {TARGET_BUCKETING}) {'OK' if gain >= TARGET_BUCKETING else 'BELOW'}")
    print("   (timed batches are the first of each epoch order; the epoch-wide padding figure is the steadier one)")

    # 3. the nightly workload, estimated
    steps = math.ceil(len(examples) / NIGHTLY_BATCH) * NIGHTLY_EPOCHS
    tokens = sum(len(e["input_ids"]) for e in examples) * NIGHTLY_EPOCHS
    bucketed_rate = rate(bucket_samples)
    print(f"\n3. nightly workload: {len(examples)} passages x {NIGHTLY_EPOCHS} epochs = {steps} steps, "
          f"{tokens} real tokens")
    print(f"   ESTIMATE from the {len(bucket_samples)} bucketed steps timed in (2), not a full run: "
          f"{tokens / bucketed_rate / 60:.1f} minutes at {bucketed_rate:.1f} tokens/s "
          "(design.md reference: about 230 tokens/s on an idle 2-core machine)")


if __name__ == "__main__":
    main()
