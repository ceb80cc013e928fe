"""Which training recipe learns the voice: the current mix, more continuations, or an LM warm-up first.

One author: the voice is Anne Brontë's *Agnes Grey* (chapters as documents), the
held-out passages are paragraphs of her *Tenant of Wildfell Hall*, drafted by the
held-out roughening family (``voiced.trainer.roughen.held_out_draft``, which no
training draft comes from). Every recipe trains the embedded SmolLM2-135M for the
same steps on one loaded model, then rewrites the drafts greedily (transformers,
the adapter applied) and reports chrF gain over the draft, copy rate, length ratio
and the held-out NLL of the writer's paragraphs as rewrites of those drafts.

    .venv/bin/python bench/bench_voice_recipes.py [--steps 30] [--passages 15] [--max-tokens 192]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "anne"
SYSTEM = "You are the writing voice of Anne Brontë. Write as she writes."

# name -> (DatasetSettings changes, TrainingSettings changes)
RECIPES = {
    "current (rewrite_share 0.7)": ({"rewrite_share": 0.7}, {}),
    "more continuation (rewrite_share 0.4)": ({"rewrite_share": 0.4}, {}),
    "LM warm-up 0.3, then rewrite": ({"rewrite_share": 0.7}, {"lm_warmup_fraction": 0.3}),
}


def paragraphs(text: str, low: int = 15, high: int = 110) -> list[str]:
    found = (" ".join(block.split()) for block in text.split("\n\n"))
    return [p for p in found if low <= len(p.split()) <= high and not p.startswith("CHAPTER")]


def voice_documents(max_words: int) -> list:
    """Agnes Grey, one document per chapter, paragraphs that fit the example budget (as the corpus gives them)."""
    from voiced.corpus.records import DocumentPassages, StoredPassage

    text = (CORPORA / "agnes-grey.txt").read_text(encoding="utf-8")
    chapters = [c for c in re.split(r"\n(?=CHAPTER [IVXL]+)", text) if c.strip()]
    docs = []
    for n, chapter in enumerate(chapters):
        kept = paragraphs(chapter, high=max_words)
        if kept:
            docs.append(
                DocumentPassages(
                    f"chapter-{n:02d}.txt",
                    [StoredPassage(("Chapter",), i, t, len(t.split()), "") for i, t in enumerate(kept)],
                )
            )
    return docs


def held_out_originals(count: int) -> list[str]:
    """Evenly spaced paragraphs of 30-90 words from the Tenant of Wildfell Hall."""
    candidates = paragraphs((CORPORA / "tenant-of-wildfell-hall.txt").read_text(encoding="utf-8"), 30, 90)
    stride = max(1, len(candidates) // count)
    return candidates[stride // 2 :: stride][:count]


def rewrite(model, tokenizer, draft: str) -> str:
    import torch

    from voiced.prompts import rewrite_messages

    ids = tokenizer.apply_chat_template(
        rewrite_messages(SYSTEM, draft), add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    limit = int(len(tokenizer(draft)["input_ids"]) * 1.5) + 20
    with torch.no_grad():
        out = model.generate(
            **ids, max_new_tokens=limit, do_sample=False, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>")
        )
    return tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def score(model, tokenizer, held_out, nll_examples) -> dict:
    from voiced.evaluation.meaning import chrf
    from voiced.trainer.gate import response_nll

    gains, copies, ratios, samples = [], [], [], []
    for draft, original in held_out:
        output = rewrite(model, tokenizer, draft)
        gains.append(chrf(output, original) - chrf(draft, original))
        copies.append(" ".join(output.split()) == " ".join(draft.split()))
        ratios.append(len(output.split()) / max(1, len(original.split())))
        samples.append(output)
    nll = response_nll(model, nll_examples).nll
    return {
        "chrf_gain": statistics.mean(gains),
        "chrf_gain_sd": statistics.stdev(gains) if len(gains) > 1 else 0.0,
        "wins": sum(g > 0 for g in gains),
        "copy_rate": sum(copies) / len(copies),
        "length_ratio": statistics.mean(ratios),
        "heldout_nll": nll,
        "gains": gains,
        "samples": samples[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--passages", type=int, default=15)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; on the shared 2-core machine 2 threads ran many times slower than 1",
    )
    parser.add_argument("--no-base", action="store_true", help="skip the base model's row")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()

    import torch
    from peft import PeftModel

    from voiced.config import DatasetSettings, TrainingSettings
    from voiced.evaluation.drafts import draft_paragraphs, signature_profile
    from voiced.models import resolve_base_model
    from voiced.trainer.base_model import load_base_model
    from voiced.trainer.dataset import Example, build_dataset
    from voiced.trainer.prose import prose_examples
    from voiced.trainer.tokenize import tokenize_dataset, tokenize_examples
    from voiced.trainer.training import train

    started = time.monotonic()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_base_model(resolve_base_model("embedded:SmolLM2-135M-Instruct"), "cpu")
    docs = voice_documents(max_words=args.max_tokens // 2)
    base_dataset = DatasetSettings(max_example_tokens=args.max_tokens, min_corpus_words=1000, seed=7)
    profile = signature_profile(p.text for d in docs for p in d.passages)
    held_out = [(draft_paragraphs(o, 11, profile)[0], o) for o in held_out_originals(args.passages)]
    nll_examples, _ = tokenize_examples(
        tokenizer,
        [
            Example(
                id=f"h{i}",
                task="rewrite",
                shape="paragraph",
                split="test",
                document="tenant",
                section=(),
                system_prompt=SYSTEM,
                prompt_parts=(d,),
                response_parts=(o,),
            )
            for i, (d, o) in enumerate(held_out)
        ],
        args.max_tokens * 2,
    )
    print(
        f"voice: {sum(len(d.passages) for d in docs)} paragraphs of Agnes Grey in {len(docs)} chapters; "
        f"{len(held_out)} held-out Tenant paragraphs (held-out family drafts); "
        f"{args.steps} steps x batch {args.batch_size} x <= {args.max_tokens} tokens",
        flush=True,
    )

    rows: dict[str, dict] = {}
    if not args.no_base:
        rows["base (no adapter)"] = score(model, tokenizer, held_out, nll_examples)
        base = {k: v for k, v in rows["base (no adapter)"].items() if k not in ("gains", "samples")}
        print(f"base: {json.dumps(base)}", flush=True)
    for name, (dataset_changes, training_changes) in RECIPES.items():
        t0 = time.monotonic()
        dataset = build_dataset("anne", docs, SYSTEM, dataclasses.replace(base_dataset, **dataset_changes))
        fitted = tokenize_dataset(tokenizer, dataset, args.max_tokens)
        prose = prose_examples(tokenizer, dataset, args.max_tokens) if training_changes else []
        settings = TrainingSettings(
            batch_size=args.batch_size,
            max_steps=args.steps,
            epochs=50,
            eval_every=max(1, args.steps // 3),
            patience=0,
            max_minutes=0,
            device="cpu",
            torch_threads=args.threads,
            seed=7,
            **training_changes,
        )
        with tempfile.TemporaryDirectory() as work:
            result = train(model, fitted["train"][0], fitted["valid"][0][:24], settings, Path(work), prose=prose)
            tuned = PeftModel.from_pretrained(model, str(result.adapter_dir))
            tuned.eval()
            row = score(tuned, tokenizer, held_out, nll_examples)
            model = tuned.unload()
        tasks = dataset.summary()["tasks"]
        row.update(
            tasks=tasks,
            prose_examples=len(prose),
            best_step=result.best_step,
            valid_loss=result.best_valid_loss,
            seconds=round(time.monotonic() - t0, 1),
        )
        rows[name] = row
        print(f"{name}: {json.dumps({k: v for k, v in row.items() if k not in ('gains', 'samples')})}", flush=True)

    print(f"\n{'recipe':40} {'chrF gain':>10} {'sd':>6} {'wins':>5} {'copy':>6} {'len':>6} {'NLL':>7}")
    for name, row in rows.items():
        print(
            f"{name:40} {row['chrf_gain']:10.2f} {row['chrf_gain_sd']:6.2f} {row['wins']:5d} "
            f"{row['copy_rate']:6.2f} {row['length_ratio']:6.2f} {row['heldout_nll']:7.3f}"
        )
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
