"""Does quoting the writer's own passages in the prompt move rewrites towards the writer?

The voice is Emma (its chapters as documents in a real corpus store under a
temporary VOICED_HOME; examples come from its training split only). The drafts
are paragraphs of Persuasion, an unseen book by the same author, roughened by
the held-out family (trainer/roughen.py: no training draft is made that way).
Each paragraph is rewritten by the real Engine on the embedded model, greedy,
with ``[inference] voice_examples`` = each k asked for (0: the prompt as
trained), the guard off so the model's own answers are judged. Printed beside
k = 0 in the same run:

- chrF gain: chrF(rewrite, original) - chrF(draft, original), mean; "served" is the
  same after the rewrite guard's verdict (a rejected answer leaves the draft);
- copy rate (the draft back unchanged), commentary rate and any rejection by the guard;
- length ratio (rewrite words / original words); seconds per paragraph, to the first word (the prompt's
  cost) and words per second after it;
- words of examples in the prompt, and examples drawn from held-out documents (must be 0).

Then the lookup alone, on a corpus of about 10,000 passages (all shared novels):
index build, rebuild after a change, the check before each lookup, lookup times.

    .venv/bin/python bench/bench_voice_examples.py [--n 16] [--min-words 25] [--max-words 80] [--ks 0,2,3]
        [--layout system|user] [--adapter FILE.gguf] [--threads 1] [--show N] [--skip-lookup]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"


def paragraphs(path: Path, min_words: int = 1) -> list[str]:
    blocks = (" ".join(b.split()) for b in path.read_text(encoding="utf-8").split("\n\n"))
    return [b for b in blocks if len(b.split()) >= min_words]


def write_chapters(novel: Path, folder: Path) -> int:
    """The novel as one file per chapter (a document each, so the split by document has something to split)."""
    folder.mkdir(parents=True)
    chapters, current = [], []
    for block in paragraphs(novel):
        if block.upper().startswith("CHAPTER") and current:
            chapters.append(current)
            current = []
        current.append(block)
    chapters.append(current)
    for n, chapter in enumerate(chapters):
        (folder / f"chapter-{n:02d}.txt").write_text("\n\n".join(chapter) + "\n", encoding="utf-8")
    return len(chapters)


def drafts(n: int, min_words: int, max_words: int, seed: int = 7) -> list[tuple[str, str]]:
    """(held-out draft, original) for n paragraphs of Persuasion of min-max words, spread over the book."""
    try:
        from voiced.trainer.roughen import held_out_draft as rough
    except ImportError:  # an older roughener without the held-out family
        from voiced.trainer.roughen import roughen as rough
    chosen = [p for p in paragraphs(CORPORA / "austen" / "persuasion.txt") if min_words <= len(p.split()) <= max_words]
    step = max(1, len(chosen) // n)
    return [(rough(p, seed).text, p) for p in chosen[::step][:n]]


def run_k(engine, voice: str, k: int, pairs, params, splits_of) -> dict:
    from voiced.evaluation.meaning import chrf
    from voiced.inference.rewrite_guard import GuardLimits, judge

    engine.config.inference.voice_examples = k
    limits = GuardLimits.from_settings(engine.config.inference)
    rows = []
    for draft, original in pairs:
        examples = engine._examples.choose(voice, draft, k)  # what the engine puts in the prompt (deterministic)
        started, first, pieces = time.perf_counter(), None, []
        for piece in engine.stream_rewrite(voice, draft, params):  # the guard is off: pieces come as decoded
            if first is None and piece.strip():
                first = time.perf_counter() - started
            pieces.append(piece)
        seconds, out = time.perf_counter() - started, "".join(pieces).strip()
        verdict = judge(draft, out, limits)
        served = verdict.text if verdict.accepted else draft
        base = chrf(draft, original)
        rows.append(
            {
                "gain": chrf(out, original) - base,
                "served_gain": chrf(served, original) - base,
                "copy": verdict.outcome == "unchanged",
                "commentary": verdict.code == "commentary",
                "rejected": not verdict.accepted,
                "length": len(out.split()) / len(original.split()),
                "seconds": seconds,
                "first": first or seconds,
                "example_words": sum(len(e.split()) for e in examples),
                "leaks": sum(splits_of(e) != "train" for e in examples),
                "out": out,
            }
        )
    return {
        "chrF gain": statistics.mean(r["gain"] for r in rows),
        "chrF gain served": statistics.mean(r["served_gain"] for r in rows),
        "better than draft": statistics.mean(r["gain"] > 0 for r in rows),
        "copy rate": statistics.mean(r["copy"] for r in rows),
        "commentary rate": statistics.mean(r["commentary"] for r in rows),
        "rejected by guard": statistics.mean(r["rejected"] for r in rows),
        "length ratio": statistics.mean(r["length"] for r in rows),
        "s / paragraph": statistics.mean(r["seconds"] for r in rows),
        "s / paragraph p90": sorted(r["seconds"] for r in rows)[int(0.9 * (len(rows) - 1))],
        "s to first word": statistics.mean(r["first"] for r in rows),
        "words out / s": sum(len(r["out"].split()) for r in rows) / sum(r["seconds"] - r["first"] for r in rows),
        "example words": statistics.mean(r["example_words"] for r in rows),
        "held-out examples": sum(r["leaks"] for r in rows),
        "_rows": rows,
    }


def split_lookup(paths, config, voice: str):
    """passage text -> its document's split, by the dataset's rule."""
    from voiced.corpus.store import CorpusStore
    from voiced.trainer.dataset import assign_splits, document_key

    with CorpusStore(paths.corpus_db) as store:
        docs = list(store.documents_with_passages(voice))
    keys = {d.path: document_key(d.path, config.voices[voice].folders) for d in docs}
    splits = assign_splits(keys.values(), config.dataset.valid_fraction, config.dataset.test_fraction)
    by_text = {p.text: splits[keys[d.path]] for d in docs for p in d.passages}
    counts = {s: sum(1 for v in splits.values() if v == s) for s in ("train", "valid", "test")}
    return (lambda text: by_text.get(text, "?")), counts


def bench_lookup(home: Path) -> None:
    """Index build, corpus check and lookup on ~10,000 passages written straight into a store."""
    from voiced.config import Config, VoiceConfig
    from voiced.corpus.records import FileState
    from voiced.corpus.store import CorpusStore
    from voiced.inference.voice_examples import VoiceExamples
    from voiced.paths import get_paths

    paths = get_paths()
    config = Config(voices={"big": VoiceConfig(name="big", folders=[str(home / "big")])})
    texts = [p for novel in sorted(CORPORA.glob("*/*.txt")) for p in paragraphs(novel, 12)]
    queries, texts = texts[::50][:200], texts[:10_000]

    class P:
        def __init__(self, order, text):
            self.section, self.order, self.text, self.words = (), order, text, len(text.split())

    with CorpusStore(paths.corpus_db) as store:
        for doc in range(0, len(texts), 40):
            state = FileState("big", str(home / "big" / f"d{doc:05d}.txt"), str(home / "big"), 1, 1, f"h{doc}")
            store.write_passages(state, [P(i, t) for i, t in enumerate(texts[doc : doc + 40])])
    examples = VoiceExamples(lambda: config, paths)
    started = time.perf_counter()
    index = examples.index("big")
    build = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(100):
        key = examples._fingerprint("big")
    check = (time.perf_counter() - started) / 100
    with CorpusStore(paths.corpus_db) as store:  # one more document: the background rebuild's cost
        state = FileState("big", str(home / "big" / "new.txt"), str(home / "big"), 1, 1, "new")
        store.write_passages(state, [P(0, queries[0])])
    started = time.perf_counter()
    examples._build("big", key)
    rebuild = time.perf_counter() - started
    times = []
    for query in queries:
        started = time.perf_counter()
        index.choose(query, 3)
        times.append(time.perf_counter() - started)
    times.sort()
    print(
        f"\nlookup on {len(texts)} passages ({len(index)} in the training split): index build {build:.2f} s "
        f"(first request), rebuild after a change {rebuild:.2f} s (in the background), check before each lookup "
        f"{check * 1000:.2f} ms, lookup median {statistics.median(times) * 1000:.2f} ms, "
        f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=16, help="Persuasion paragraphs to rewrite")
    parser.add_argument("--min-words", type=int, default=25)
    parser.add_argument("--max-words", type=int, default=80)
    parser.add_argument("--ks", default="0,2,3", help="voice_examples values to compare (0 first)")
    parser.add_argument("--layout", default=None, help="where the examples go: system or user (default: prompts')")
    parser.add_argument("--adapter", type=Path, default=None, help="a GGUF LoRA to rewrite with (default: the base)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--show", type=int, default=0, help="print this many rewrites per k")
    parser.add_argument("--skip-lookup", action="store_true")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="voiced-bench-examples-"))
    os.environ["VOICED_HOME"] = str(home / "voiced")
    from voiced import prompts
    from voiced.config import Config, VoiceConfig
    from voiced.corpus.scanner import scan
    from voiced.corpus.store import CorpusStore
    from voiced.inference.engine import Engine
    from voiced.inference.generation import GenerationParams
    from voiced.paths import get_paths

    if args.layout:
        prompts.EXAMPLE_LAYOUT = args.layout
    paths = get_paths()
    chapters = write_chapters(CORPORA / "austen" / "emma.txt", home / "emma")
    config = Config(voices={"emma": VoiceConfig(name="emma", folders=[str(home / "emma")])})
    config.inference.n_threads = args.threads
    config.inference.guard = False
    with CorpusStore(paths.corpus_db) as store:
        scan(store, config)
    splits_of, counts = split_lookup(paths, config, "emma")
    pairs = drafts(args.n, args.min_words, args.max_words)
    print(
        f"voice: Emma, {chapters} chapter documents (train {counts['train']}, valid {counts['valid']}, "
        f"test {counts['test']}); drafts: {len(pairs)} Persuasion paragraphs, held-out roughening; "
        f"layout {prompts.EXAMPLE_LAYOUT}; {'adapter ' + str(args.adapter) if args.adapter else 'base model'}"
    )
    params = GenerationParams(temperature=0.0, seed=1234)
    ks = [int(k) for k in args.ks.split(",")]
    results = {}
    with Engine(config, adapter_resolver=lambda _voice: args.adapter, paths=paths) as engine:
        engine.load("emma")
        engine._examples.index("emma")  # built once, before timing
        for k in ks:
            results[k] = run_k(engine, "emma", k, pairs, params, splits_of)
    from voiced.evaluation.meaning import chrf

    print(f"\ndraft: chrF vs original {statistics.mean(chrf(d, o) for d, o in pairs):.1f} (the floor; gain 0)")
    names = [name for name in results[ks[0]] if not name.startswith("_")]
    print(f"{'':24}" + "".join(f"{'k=' + str(k):>10}" for k in ks))
    for name in names:
        print(f"{name:24}" + "".join(f"{results[k][name]:>10.3f}" for k in ks))
    for k in ks:
        for row, (draft, original) in list(zip(results[k]["_rows"], pairs, strict=False))[: args.show]:
            print(f"\n[k={k}] draft: {draft}\n  rewrite: {row['out']}\n  original: {original}")
    if not args.skip_lookup:
        bench_lookup(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
