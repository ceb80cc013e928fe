"""Evaluation benchmark: wall time of `voiced eval` on the embedded model, extrapolated to 100 passages.

Builds a voice from Persuasion (60 short notes, temporary VOICED_HOME), times a
real run on a subset of the test split (rewrites by the in-process Engine at
temperature 0, all metrics, the gate's NLL) and, in the same run, the reference:
one plain Engine rewrite of a fixed passage. The metrics alone are also timed
on 100 passages (floor and ceiling anchors need no model). The full 100-passage
figure is an estimate: per-passage rewrite time x 100 x targets + metrics + NLL.

    .venv/bin/python bench/bench_eval.py [--passages 6] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

AUSTEN = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "austen"


def make_voice(home: Path):
    from voiced.config import Config, DatasetSettings, VoiceConfig, save_config
    from voiced.corpus.scanner import scan
    from voiced.corpus.store import CorpusStore

    folder = home / "notes"
    folder.mkdir(parents=True)
    text = (AUSTEN / "persuasion.txt").read_text(encoding="utf-8")
    paragraphs = [" ".join(b.split()) for b in text.split("\n\n") if 15 <= len(b.split()) < 80]
    for index in range(60):
        (folder / f"note-{index:02d}.txt").write_text("\n\n".join(paragraphs[index * 3:index * 3 + 3]) + "\n")
    config = Config(voices={"austen": VoiceConfig(name="austen", folders=[str(folder)])},
                    dataset=DatasetSettings(min_corpus_words=300, max_example_tokens=256, test_fraction=0.3))
    config.inference.n_threads = 1   # on a shared, busy CPU one llama.cpp thread beats two spinning ones
    save_config(config)
    with CorpusStore.open() as store:
        scan(store, config)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    os.environ["VOICED_HOME"] = str(home)
    from voiced.daemon.engine import Engine
    from voiced.daemon.generation import GenerationParams
    from voiced.evaluation.run import EvalResult, held_out_passages, run_eval, score_outputs, voice_dataset, \
        writer_profile
    from voiced.paths import get_paths

    config = make_voice(home)
    config.evaluation.max_tokens = args.max_tokens
    dataset = voice_dataset(config, "austen", get_paths())
    everything = held_out_passages(dataset)
    print(f"test split: {len(everything)} rewrite passages, "
          f"{sum(len(p.original.split()) for p in everything) / max(len(everything), 1):.0f} words each on average")

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
    print(f"eval of {len(result.passages)} passages, base only:                 {total:7.2f} s "
          f"(rewrites {result.seconds['generate']:.2f}, metrics {result.seconds['metrics']:.2f}, "
          f"NLL incl. torch load {result.seconds['nll']:.2f})")
    print(f"  per passage rewrite:                            {per_passage:7.2f} s")

    hundred = (everything * (100 // max(len(everything), 1) + 1))[:100]
    scored = EvalResult("austen", hundred)
    start = time.perf_counter()
    score_outputs(scored, writer_profile(dataset), config.evaluation)
    metrics_100 = time.perf_counter() - start
    print(f"metrics only, 100 passages x 2 anchors:            {metrics_100:7.2f} s (measured)")
    for targets in (1, 2):
        estimate = per_passage * 100 * targets + metrics_100 * (2 + targets) / 2 + result.seconds["nll"] * targets
        print(f"estimated full eval, 100 passages, {targets} target(s):     {estimate:7.0f} s "
              f"(extrapolated from {len(result.passages)} rewrites)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
