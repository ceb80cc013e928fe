"""Daemon benchmark: what the HTTP API and the process boundary add on top of the engine.

Starts a real daemon (embedded model, loopback, temporary VOICED_HOME) and measures:

* `voiced daemon start` until /v1/status answers;
* the round trip of an authenticated GET /v1/status (no model work);
* a greedy continuation of a fixed length streamed through the API (time to
  the first piece, pieces per second), beside the same request to an
  in-process Engine measured in the same run (the reference: no HTTP, no JSON).

    .venv/bin/python bench/bench_daemon.py [--tokens 48] [--status-calls 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

PROSE = ("Anne had been forced into prudence in her youth, she learned romance as she grew older: "
         "the natural sequel of an unnatural beginning.")


def timed_stream(pieces) -> tuple[float, float, int]:
    """Seconds to the first piece, total seconds, and the number of pieces."""
    start = time.perf_counter()
    first = None
    count = 0
    for _ in pieces:
        count += 1
        if first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--status-calls", type=int, default=200)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="voiced-bench-daemon-"))
    os.environ["VOICED_HOME"] = str(home)
    from voiced.client import DaemonClient
    from voiced.config import Config, VoiceConfig, save_config
    from voiced.daemon.engine import Engine, GenerationParams
    from voiced.daemon.process import start_daemon, stop_daemon

    config = Config(voices={"bench": VoiceConfig(name="bench")})
    save_config(config)

    began = time.perf_counter()
    record, _ = start_daemon(timeout=300)
    start_seconds = time.perf_counter() - began
    try:
        with DaemonClient(record) as client:
            client.continue_text("bench", PROSE, max_tokens=4, temperature=0)  # warm: model loaded
            status_ms = []
            for _ in range(args.status_calls):
                t0 = time.perf_counter()
                client.status()
                status_ms.append((time.perf_counter() - t0) * 1000)
            api = timed_stream(client.stream_continue("bench", PROSE, max_tokens=args.tokens, temperature=0))
    finally:
        stop_daemon()

    with Engine(config) as engine:
        engine.load("bench")
        params = GenerationParams(max_tokens=args.tokens, temperature=0)
        direct = timed_stream(engine.stream_continue("bench", PROSE, params=params, cancel=threading.Event()))

    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print(f"daemon start until /v1/status answers: {start_seconds:.2f} s")
    print(f"GET /v1/status round trip: median {statistics.median(status_ms):.2f} ms, "
          f"p95 {sorted(status_ms)[int(0.95 * len(status_ms)) - 1]:.2f} ms ({args.status_calls} calls)")
    for label, (first, total, count) in (("through the API", api), ("in-process Engine (reference)", direct)):
        print(f"continuation, {count} pieces {label}: first piece {first * 1000:.0f} ms, "
              f"total {total:.2f} s, {count / total if total else 0:.1f} pieces/s")
    overhead = (api[1] - direct[1]) / max(api[2], 1) * 1000
    print(f"API overhead per piece (difference of totals / pieces): {overhead:.1f} ms")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
