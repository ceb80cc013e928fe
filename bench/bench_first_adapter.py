"""The first adapter: `voiced train --max-steps 4` on the demo corpus, phase by phase, fresh and again.

    python bench/bench_first_adapter.py [--runs 2] [--max-steps 4] [--home DIR]

Sets up the demo's voice (``voiced init --voice austen``, ``voiced add examples/demo-corpus``,
``voiced scan``) in a fresh VOICED_HOME, then runs ``voiced train --max-steps N --max-minutes 3
--progress-json`` ``--runs`` times in that same home: the first run has nothing cached (as in ``make demo``),
the later ones reuse the base model's test NLL and voice-gate rewrites. Prints each phase's seconds per run
(from the job's own "phase_done" events), the job's total, the command's wall time and the load average
before and after, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOICED = str(ROOT / ".venv" / "bin" / "voiced")


def voiced(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VOICED_HOME": str(home)}
    return subprocess.run([VOICED, *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_once(home: Path, max_steps: int) -> dict:
    before = load()
    started = time.monotonic()
    out = voiced(home, "train", "--max-steps", str(max_steps), "--max-minutes", "3", "--progress-json").stdout
    wall = time.monotonic() - started
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    summary = next(e for e in events if e.get("event") == "phases")
    result = next(e for e in events if e.get("event") == "result")
    return {"wall": wall, "load_before": before, "load_after": load(), "summary": summary, "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--home", type=Path, help="VOICED_HOME to set up (default: a temporary folder)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="voiced-bench-first-"))
    voiced(home, "init", "--voice", "austen")
    voiced(home, "add", "examples/demo-corpus", "--voice", "austen")
    voiced(home, "scan")
    runs = []
    for i in range(args.runs):
        runs.append(run_once(home, args.max_steps))
        print(f"run {i + 1}: wall {runs[-1]['wall']:.1f} s; {json.dumps(runs[-1]['summary'])}", flush=True)
    names = list(dict.fromkeys(p["phase"] for run in runs for p in run["summary"]["phases"]))
    print(f"home {home}; cores {os.cpu_count()}")
    print(f"{'phase':<12}" + "".join(f"{'run ' + str(i + 1):>12}" for i in range(len(runs))))
    for name in names:
        cells = [sum(p["seconds"] for p in run["summary"]["phases"] if p["phase"] == name) for run in runs]
        print(f"{name:<12}" + "".join(f"{c:>11.1f}s" for c in cells))
    print(f"{'job total':<12}" + "".join(f"{run['summary']['total']:>11.1f}s" for run in runs))
    print(f"{'wall':<12}" + "".join(f"{run['wall']:>11.1f}s" for run in runs))
    for i, run in enumerate(runs, 1):
        s = run["summary"]
        print(
            f"run {i}: base NLL {s['base_nll']!r}; base rewrites {s.get('base_rewrites', '-')!r}; "
            f"model loads {s['model_loads']}; {run['result']['status']}; load {run['load_before']} -> "
            f"{run['load_after']}"
        )


if __name__ == "__main__":
    main()
