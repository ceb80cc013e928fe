"""Rewrite guard benchmark: what the base model answers, and what reaches the writer, with and without it.

Held-out paragraphs of Anne Brontë's *The Tenant of Wildfell Hall* (30-90 words, every n-th from an
offset the test fixtures do not use), roughened by voiced's roughener, rewritten by the embedded
base model (no adapter, ``[inference]`` defaults, seed 2000 + i) twice on one engine: with the guard
off, then on, paragraph by paragraph (the first try repeats the unguarded answer: same seed). Prints:

* commentary rate: answers the guard judges commentary (before), outputs it still would (after);
* copy rate: outputs identical to the draft (after: the model's copies plus the drafts kept);
* the guard's verdicts before (ok, cleaned, unchanged, and each reason for rejection);
* latency per paragraph: the guarded rewrite's time minus the unguarded one (held pieces, retries),
  and the judge's own time.

    .venv/bin/python bench/bench_guard.py [--paragraphs 40] [--threads 1] [--out rows.jsonl]

About 5 s of CPU per paragraph (two rewrites and most of a retry): 40 paragraphs take about 3.3
minutes on a quiet machine (measured: 6 paragraphs, 32 s of CPU with the model's load); a busy
one stretches that several times. docs/daemon.md has the figures of a 40-paragraph run.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import time
from pathlib import Path

from voiced.config import Config, VoiceConfig
from voiced.inference.engine import Engine
from voiced.inference.generation import GenerationParams
from voiced.inference.rewrite_guard import GuardLimits, judge
from voiced.trainer.roughen import roughen

BOOK = Path("/work/shared/corpora/anne/tenant-of-wildfell-hall.txt")


def held_out(count: int, offset: int = 7) -> list[str]:
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", BOOK.read_text(encoding="utf-8"))]
    paragraphs = [p for p in paragraphs if 30 <= len(p.split()) <= 90 and not p.isupper()]
    step = max(1, len(paragraphs) // count)
    return paragraphs[offset::step][:count]


def rewrite(engine: Engine, draft: str, seed: int, guard: bool) -> dict:
    engine.config.inference.guard = guard
    reports: list = []
    started = time.perf_counter()
    output = engine.rewrite("default", draft, GenerationParams(seed=seed), on_guard=reports.append)
    return {"output": output, "seconds": time.perf_counter() - started, "reports": [r.to_dict() for r in reports]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paragraphs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="inference.n_threads (one suits a shared machine)")
    parser.add_argument("--out", type=Path, help="write every draft, answer and verdict here (JSON lines)")
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()

    originals = held_out(args.paragraphs)
    drafts = [roughen(text, seed=i).text for i, text in enumerate(originals)]
    config = Config(voices={"default": VoiceConfig(name="default")})
    config.inference.n_threads = args.threads
    limits = GuardLimits.from_settings(config.inference)
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        before, after = [], []
        for i, draft in enumerate(drafts):  # in turn, so a machine that gets busier slows both alike
            before.append(rewrite(engine, draft, 2000 + i, guard=False))
            after.append(rewrite(engine, draft, 2000 + i, guard=True))

    started = time.perf_counter()
    verdicts = [judge(d, b["output"], limits) for d, b in zip(drafts, before, strict=False)]
    judge_ms = 1000 * (time.perf_counter() - started) / len(drafts)
    residual = [judge(d, a["output"], limits) for d, a in zip(drafts, after, strict=False)]
    n = len(drafts)
    kinds = collections.Counter(v.code or v.outcome for v in verdicts)
    left = sum(1 for a in after if any(r["outcome"] == "rejected" for r in a["reports"]))
    retried = sum(1 for a in after if any(r["attempts"] > 1 for r in a["reports"]))
    added = [a["seconds"] - b["seconds"] for a, b in zip(after, before, strict=False)]
    first_try = [x for x, a in zip(added, after, strict=False) if not any(r["attempts"] > 1 for r in a["reports"])]
    retried_added = [x for x, a in zip(added, after, strict=False) if any(r["attempts"] > 1 for r in a["reports"])]

    def rate(count: int) -> str:
        return f"{count:3d}/{n} ({count / n:5.1%})"

    print(f"{n} held-out paragraphs of {BOOK.name}, roughened; base model, [inference] defaults")
    print(f"verdicts on the unguarded answers: {dict(kinds.most_common())}")
    print(f"{'':28} {'before':>16} {'after':>16}")
    print(
        f"{'commentary':28} {rate(kinds['commentary']):>16} {rate(sum(v.code == 'commentary' for v in residual)):>16}"
    )
    copies_before = sum(b["output"].strip() == d for b, d in zip(before, drafts, strict=False))
    copies_after = sum(a["output"].strip() == d for a, d in zip(after, drafts, strict=False))
    print(f"{'copies of the draft':28} {rate(copies_before):>16} {rate(copies_after):>16}")
    print(
        f"{'rejected answers inserted':28} {rate(sum(not v.accepted for v in verdicts)):>16} "
        f"{rate(sum(not v.accepted for v in residual)):>16}"
    )
    print(f"paragraphs retried {rate(retried)}, left as they were {rate(left)}")
    print(
        f"seconds per paragraph: unguarded median {statistics.median(b['seconds'] for b in before):.2f}, "
        f"guarded median {statistics.median(a['seconds'] for a in after):.2f}; added median "
        f"{statistics.median(added):+.2f}, mean {statistics.mean(added):+.2f}; the judge itself {judge_ms:.2f} ms"
    )
    for label, values in (("judged at the first try", first_try), ("retried", retried_added)):
        if values:
            print(f"  added for paragraphs {label} ({len(values)}): median {statistics.median(values):+.2f} s")
    print("(a guarded paragraph arrives whole once judged: its first piece comes when an unguarded one ends)")
    print(
        f"this run: {time.perf_counter() - wall:.0f} s, {time.process_time() - cpu:.0f} s of CPU "
        "(about the run's length on a quiet machine)"
    )
    if args.out:
        with args.out.open("w", encoding="utf-8") as out:
            for i, (o, d, b, a, v) in enumerate(zip(originals, drafts, before, after, verdicts, strict=False)):
                out.write(
                    json.dumps(
                        {
                            "i": i,
                            "original": o,
                            "draft": d,
                            "before": b["output"],
                            "verdict": v.code or v.outcome,
                            "after": a["output"],
                            "reports": a["reports"],
                            "seconds": [b["seconds"], a["seconds"]],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )


if __name__ == "__main__":
    main()
