"""Evaluation benchmark: wall time of `voiced eval` on the embedded model, extrapolated to 100 passages.

Builds a voice from Persuasion (60 short notes, temporary VOICED_HOME), times a
real run on a subset of the test split (rewrites by the in-process Engine at
temperature 0, held-out drafts, all metrics, the gate's NLL; the headline figures are
printed) and, in the same run, the reference:
one plain Engine rewrite of a fixed passage. The metrics alone are also timed
on 100 passages (floor and ceiling anchors need no model). The full 100-passage
figure is an estimate: per-passage rewrite time x 100 x targets + metrics + NLL.

``--full`` measures instead of estimating: a voice from 400 notes (Persuasion,
then Mansfield Park), so its test split holds at least 100 rewrite passages; a
two-step training job registers v1; then the real ``run_eval`` on 100 passages
for the base and v1 (as `voiced eval --adapter 1 --n 100` does), with the
configured evaluation settings (max_tokens 256, temperature 0), NLL included.

    .venv/bin/python bench/bench_eval.py [--passages 6] [--max-tokens 96]
    .venv/bin/python bench/bench_eval.py --full [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

AUSTEN = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "austen"


def make_voice(home: Path, notes: int = 60, threads: int = 1):
    from voiced.config import Config, DatasetSettings, VoiceConfig, save_config
    from voiced.corpus.scanner import scan
    from voiced.corpus.store import CorpusStore

    folder = home / "notes"
    folder.mkdir(parents=True)
    paragraphs = []
    for novel in ("persuasion.txt", "mansfield-park.txt"):
        text = (AUSTEN / novel).read_text(encoding="utf-8")
        paragraphs += [" ".join(b.split()) for b in text.split("\n\n") if 15 <= len(b.split()) < 80]
    assert len(paragraphs) >= notes * 3, f"only {len(paragraphs)} paragraphs for {notes} notes"
    for index in range(notes):
        (folder / f"note-{index:02d}.txt").write_text("\n\n".join(paragraphs[index * 3 : index * 3 + 3]) + "\n")
    config = Config(
        voices={"austen": VoiceConfig(name="austen", folders=[str(folder)])},
        dataset=DatasetSettings(min_corpus_words=300, max_example_tokens=256, test_fraction=0.3),
    )
    config.inference.n_threads = threads  # on a shared, busy CPU one llama.cpp thread beats two spinning ones
    config.training.torch_threads = threads
    save_config(config)
    with CorpusStore.open() as store:
        scan(store, config)
    return config


def full_run(home: Path, threads: int) -> int:
    """The measured 100-passage eval of the base and a registered version."""
    from voiced.daemon.training_job import run_training_job
    from voiced.evaluation.run import held_out_passages, run_eval, voice_dataset
    from voiced.inference.engine import Engine
    from voiced.inference.generation import GenerationParams
    from voiced.paths import get_paths

    config = make_voice(home, notes=400, threads=threads)
    dataset = voice_dataset(config, "austen", get_paths())
    everything = held_out_passages(dataset)
    print(
        f"test split: {len(everything)} rewrite passages, "
        f"{sum(len(p.original.split()) for p in everything) / max(len(everything), 1):.0f} words each on average"
    )
    assert len(everything) >= 100, "the test split is too small for a 100-passage eval"
    start = time.perf_counter()
    job = run_training_job(config, "austen", overrides={"max_steps": 2})
    print(f"setup: 2-step training job -> v{job.version} ({job.status}) in {time.perf_counter() - start:.0f} s")

    with Engine(config, adapter_resolver=lambda _v: None) as engine:
        params = GenerationParams(temperature=0.0, seed=1, max_tokens=config.evaluation.max_tokens or None)
        engine.rewrite("austen", "Warm up.", params)
        start = time.perf_counter()
        engine.rewrite("austen", everything[0].rough, params)
        reference = time.perf_counter() - start
        start = time.perf_counter()
        result = run_eval(config, "austen", adapter=job.version, n=100, engine=engine)
        total = time.perf_counter() - start
    rewrites = sum(len(outputs) for outputs in result.outputs.values())
    print(f"reference: one Engine rewrite of a test passage      {reference:7.2f} s")
    print(
        f"full eval, {len(result.passages)} passages x {len(result.outputs)} targets ({rewrites} rewrites): "
        f"{total:7.0f} s measured"
    )
    print(
        f"  rewrites {result.seconds['generate']:.0f} s ({result.seconds['generate'] / rewrites:.2f} s each), "
        f"metrics {result.seconds['metrics']:.1f} s, NLL incl. torch load {result.seconds['nll']:.1f} s"
    )
    print_headline(result)
    return 0


HEADLINE = ("chrf_gain", "closer_char3", "attributed_char3", "kept_names_numbers", "copy", "commentary", "length_ratio")


def print_headline(result) -> None:
    """The figures a voice is judged by, per target beside the anchors (docs/evaluation.md)."""
    print(
        f"drafts: {result.sources()} in {result.seconds.get('drafts', 0):.1f} s; attribution against "
        f"{', '.join(result.references)}" + "".join(f"\n  note: {note}" for note in result.notes)
    )
    print("".ljust(30) + "".join(name[:14].rjust(16) for name in HEADLINE))
    for label, metrics in result.metrics.items():
        print(
            label[:29].ljust(30)
            + "".join(("-" if metrics[name] is None else f"{metrics[name]:.3f}").rjust(16) for name in HEADLINE)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--full", action="store_true", help="measure a real 100-passage eval (minutes)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp and torch threads (0 = one per core)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    os.environ["VOICED_HOME"] = str(home)
    if args.full:
        return full_run(home, args.threads)
    from voiced.evaluation.run import (
        EvalResult,
        held_out_passages,
        run_eval,
        score_outputs,
        voice_dataset,
        writer_profile,
    )
    from voiced.inference.engine import Engine
    from voiced.inference.generation import GenerationParams
    from voiced.paths import get_paths

    config = make_voice(home, threads=args.threads)
    config.evaluation.max_tokens = args.max_tokens
    dataset = voice_dataset(config, "austen", get_paths())
    everything = held_out_passages(dataset)
    print(
        f"test split: {len(everything)} rewrite passages, "
        f"{sum(len(p.original.split()) for p in everything) / max(len(everything), 1):.0f} words each on average"
    )

    with Engine(config, adapter_resolver=lambda _v: None) as engine:
        params = GenerationParams(temperature=0.0, seed=1, max_tokens=args.max_tokens)
        engine.rewrite("austen", "Warm up.", params)
        start = time.perf_counter()
        engine.rewrite("austen", everything[0].rough, params)
        reference = time.perf_counter() - start
        start = time.perf_counter()
        result = run_eval(config, "austen", n=args.passages, engine=engine)
        total = time.perf_counter() - start
    per_passage = result.seconds["generate"] / len(result.passages)
    print(f"reference: one Engine rewrite of a test passage      {reference:7.2f} s")
    print(
        f"eval of {len(result.passages)} passages, base only:                 {total:7.2f} s "
        f"(rewrites {result.seconds['generate']:.2f}, metrics {result.seconds['metrics']:.2f}, "
        f"NLL incl. torch load {result.seconds['nll']:.2f})"
    )
    print(f"  per passage rewrite:                            {per_passage:7.2f} s")
    print_headline(result)

    hundred = (everything * (100 // max(len(everything), 1) + 1))[:100]
    scored = EvalResult("austen", hundred)
    start = time.perf_counter()
    score_outputs(scored, writer_profile(dataset), config.evaluation)
    metrics_100 = time.perf_counter() - start
    print(f"metrics only, 100 passages x 2 anchors:            {metrics_100:7.2f} s (measured)")
    for targets in (1, 2):
        estimate = per_passage * 100 * targets + metrics_100 * (2 + targets) / 2 + result.seconds["nll"] * targets
        print(
            f"estimated full eval, 100 passages, {targets} target(s):     {estimate:7.0f} s "
            f"(extrapolated from {len(result.passages)} rewrites)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
