"""Drafts benchmark: how far the training drafts are from the writer's text, new roughener beside the old.

Builds the dataset of one Austen novel (documents of ten paragraphs, the
default [dataset] settings) twice in one run: with the roughener as it is now
and with the roughener as it was before issue 18 (trainer/roughen.py at
OLD_COMMIT, loaded from git), then makes held-out drafts of the test split's
paragraphs. Prints, for each: the word-level similarity of draft to original
(median, quartiles, share at 0.9 or more) overall and per family, the share of
names and numbers kept, and the time taken.

    .venv/bin/python bench/bench_drafts.py [--novel emma] [--documents 60]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dataset import REPO, _documents  # noqa: E402  (the same documents as the dataset benchmark)

OLD_COMMIT = "c0f7c9b"  # the last commit with the offline roughener issue 18 measured (median 0.88)


def roughener_at(commit: str = OLD_COMMIT):
    """trainer/roughen.py as it was at ``commit`` (default: before issue 18), loaded as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:trainer/roughen.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_roughen.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_roughen", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_roughen"] = module
    spec.loader.exec_module(module)
    return module


def _print(label: str, stats: dict, seconds: float) -> None:
    print(f"\n{label} ({seconds:.1f} s)")
    print(f"  {'family':<16}{'drafts':>7}{'median':>8}{'q1':>7}{'q3':>7}{'>=0.9':>8}")
    rows = [("all", stats), *stats["families"].items()]
    for name, fam in rows:
        print(
            f"  {name:<16}{fam['drafts']:>7}{fam['median']:>8.3f}{fam['q1']:>7.3f}{fam['q3']:>7.3f}"
            f"{fam['share_at_least_0.9']:>8.0%}"
        )
    low, high = stats["target_median"]
    print(
        f"  names and numbers kept: {stats['names_and_numbers_kept']:.2%} of tokens, all kept in "
        f"{stats['drafts_keeping_all_names']:.1%} of drafts; median within {low}-{high}: {stats['within_target']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--novel", default="emma")
    parser.add_argument("--documents", type=int, default=60, help="How many ten-paragraph documents (0: all).")
    args = parser.parse_args()

    from voiced.config import DEFAULT_SYSTEM_PROMPT, DatasetSettings
    from voiced.trainer.dataset import build_dataset
    from voiced.trainer.draft_report import draft_statistics
    from voiced.trainer.roughen import held_out_draft
    from voiced.trainer.roughen_signature import writer_profile

    docs = _documents(args.novel)
    docs = docs[: args.documents] if args.documents else docs
    settings = DatasetSettings()
    print(f"{args.novel}: {len(docs)} documents, {sum(len(d.passages) for d in docs)} paragraphs")

    old = roughener_at()
    start = time.perf_counter()
    before = build_dataset(
        "bench",
        docs,
        DEFAULT_SYSTEM_PROMPT,
        settings,
        roughener=lambda text, seed: old.roughen(text, seed, structural_noise=settings.structural_noise),
    )
    _print(f"old roughener ({OLD_COMMIT})", before.summary()["drafts"], time.perf_counter() - start)

    start = time.perf_counter()
    after = build_dataset("bench", docs, DEFAULT_SYSTEM_PROMPT, settings)
    _print("new roughener (training families)", after.summary()["drafts"], time.perf_counter() - start)
    print("  signature words: " + ", ".join(after.signature_words[:20]))

    start = time.perf_counter()
    train = [p.text for d in docs if after.documents.get(d.path) == "train" for p in d.passages]
    profile = writer_profile(train)
    held_out = [
        (draft.style, draft.text, p.text)
        for d in docs
        if after.documents.get(d.path) == "test"
        for p in d.passages
        for draft in [held_out_draft(p.text, settings.seed, profile)]
    ]
    _print(
        "held-out family (test split, never used for training)", draft_statistics(held_out), time.perf_counter() - start
    )


if __name__ == "__main__":
    main()
