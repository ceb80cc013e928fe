"""Dataset benchmark: building, roughening and tokenizing a novel-sized voice, and padding with and without bucketing.

Turns one Austen novel (/work/shared/corpora/austen) into documents of ten
paragraphs, then prints:

* the time to build the dataset (roughening included), beside the time to just
  split the same paragraphs into sentences (the cheapest pass over the text);
* the time to tokenize and fit every example with the embedded tokenizer,
  beside tokenizing the bare responses (no chat template, no fitting);
* padding efficiency (real / padded tokens) and padded tokens per epoch, with
  bucketing and with plain shuffled batches, as the training loop would see them.

    .venv/bin/python bench/bench_dataset.py [--novel emma] [--batch-size 4] [--max-tokens 512]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"


@dataclass(frozen=True)
class _Passage:
    section: tuple[str, ...]
    order: int
    text: str
    words: int


@dataclass(frozen=True)
class _Document:
    path: str
    passages: list[_Passage]


def _documents(novel: str) -> list[_Document]:
    text = (AUSTEN / f"{novel}.txt").read_text(encoding="utf-8")
    paragraphs = [" ".join(b.split()) for b in text.split("\n\n")]
    paragraphs = [p for p in paragraphs if len(p.split()) >= 8]
    return [
        _Document(
            f"{novel}/part-{i // 10:04d}.md",
            [_Passage(("Part",), j, p, len(p.split())) for j, p in enumerate(paragraphs[i : i + 10])],
        )
        for i in range(0, len(paragraphs), 10)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--novel", default="emma")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args()

    from voiced.config import DEFAULT_SYSTEM_PROMPT, DatasetSettings
    from voiced.trainer.base_model import load_tokenizer
    from voiced.trainer.dataset import build_dataset
    from voiced.trainer.roughen import split_sentences
    from voiced.trainer.tokenize import make_batches, padding_efficiency, tokenize_examples

    docs = _documents(args.novel)
    passages = [p.text for d in docs for p in d.passages]
    words = sum(p.words for d in docs for p in d.passages)
    print(f"{args.novel}: {len(docs)} documents, {len(passages)} passages, {words:,} words")

    start = time.perf_counter()
    for text in passages:
        split_sentences(text)
    reference = time.perf_counter() - start
    start = time.perf_counter()
    dataset = build_dataset("bench", docs, DEFAULT_SYSTEM_PROMPT, DatasetSettings(max_example_tokens=args.max_tokens))
    built = time.perf_counter() - start
    examples = [ex for rows in dataset.examples.values() for ex in rows]
    print(
        f"build: {built:.2f} s for {len(examples)} examples ({dataset.summary()['shapes']}); "
        f"reference, sentence split only: {reference:.2f} s"
    )

    tokenizer = load_tokenizer("embedded:SmolLM2-135M-Instruct")
    start = time.perf_counter()
    for ex in examples:
        tokenizer(ex.response_text, add_special_tokens=False)
    bare = time.perf_counter() - start
    start = time.perf_counter()
    tokenized, report = tokenize_examples(tokenizer, examples, args.max_tokens)
    fitted = time.perf_counter() - start
    print(
        f"tokenize + fit: {fitted:.2f} s (kept {report.kept}, shortened {report.shortened}, dropped {report.dropped}); "
        f"reference, bare responses: {bare:.2f} s"
    )

    for bucketing in (True, False):
        batches = make_batches(tokenized, args.batch_size, bucketing=bucketing, seed=1)
        cells = sum(len(row) for b in batches for row in b["attention_mask"])
        print(
            f"batches {'bucketed' if bucketing else 'plain   '}: padding efficiency {padding_efficiency(batches):.3f}, "
            f"{cells:,} padded tokens per epoch"
        )


if __name__ == "__main__":
    main()
