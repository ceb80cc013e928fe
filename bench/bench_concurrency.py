"""Concurrency benchmark: continuous batching in the engine against raw llama-cpp-python, in one run.

On the embedded model (SmolLM2-135M Q4_1) with a 120-word paragraph from Persuasion, greedy (seed 1),
max_tokens 160, the rewrite guard off (it holds a paragraph until judged, which hides the decoding
rate; it costs about 1.3 ms a paragraph), it prints each figure beside its reference and the ratio:

* raw llama-cpp-python (``create_chat_completion``, the same messages and sampling) tokens/s, and one
  client through the engine (target >= 0.95 of raw). Rates are output tokens (the text re-tokenised)
  per second after the first piece of text, so prompt processing is left out (raw llama-cpp-python
  finds the repeated prompt in its cache; the engine decodes each request's prompt); engine and raw
  rounds alternate, so load hits both alike;
* 4 concurrent clients' aggregate tokens/s (whole requests, wall time) against one client's
  (target >= 2.5x), and the same 4 clients on an engine with ``n_parallel = 1`` (requests queue, as
  before batching);
* p95 latency of the whole 120-word rewrite with 4 clients against one client's p95 (target < 2x).

    nice .venv/bin/python bench/bench_concurrency.py [--rounds 6] [--clients 4] [--threads 1]

``--threads`` is llama.cpp's n_threads on both sides (default 1: on a machine shared with other work,
llama.cpp's threads wait on each other and one descheduled thread stalls every token).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_daemon import decode_rate, paragraph_of, percentile  # noqa: E402

TARGET_SINGLE = 0.95
TARGET_AGGREGATE = 2.5
TARGET_P95 = 2.0


def timed(pieces) -> tuple[float, float, int, str]:
    """Seconds to the first piece of text (the engine may first send an empty Markdown prefix), total
    seconds, the number of pieces, and the text."""
    start = time.perf_counter()
    first = None
    text = []
    for piece in pieces:
        text.append(piece)
        if first is None and piece.strip():
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, len(text), "".join(text)


def engine_for(parallel: int, threads: int):
    from voiced.config import Config, VoiceConfig
    from voiced.inference.engine import Engine

    config = Config(voices={"bench": VoiceConfig(name="bench")})
    config.inference.n_threads = threads
    config.inference.n_parallel = parallel
    config.inference.guard = False
    engine = Engine(config, adapter_resolver=lambda voice: None)
    engine.load("bench")
    return engine


def clients(engine, text: str, params, n: int, each: int) -> tuple[float, list[tuple]]:
    """``n`` threads, each rewriting ``each`` times; wall seconds and every run's timings."""
    runs: list[tuple] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(each):
            run = timed(engine.stream_rewrite("bench", text, params))
            with lock:
                runs.append(run)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rewrites per client")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["VOICED_HOME"] = tempfile.mkdtemp(prefix="voiced-bench-concurrency-")

    from voiced.inference.generation import GenerationParams
    from voiced.inference.llama_runtime import open_llama
    from voiced.models import embedded_model_path
    from voiced.prompts import rewrite_messages

    load_at_start = os.getloadavg()[0]
    text = paragraph_of(120)
    params = GenerationParams(temperature=0.0, seed=1, max_tokens=args.max_tokens)
    engine = engine_for(args.clients, args.threads)
    settings = engine.settings
    llm = open_llama(embedded_model_path(), n_ctx=settings.n_ctx, n_threads=args.threads)
    messages = rewrite_messages(engine.config.voices["bench"].system_prompt, text)
    resolved = params.resolved(settings)
    options = {
        "max_tokens": args.max_tokens,
        "temperature": 0.0,
        "seed": 1,
        "top_p": resolved.top_p,
        "top_k": resolved.top_k,
        "repeat_penalty": resolved.repeat_penalty,
    }

    def raw_run() -> tuple:
        stream = llm.create_chat_completion(messages=messages, stream=True, **options)
        return timed(piece for chunk in stream if (piece := chunk["choices"][0]["delta"].get("content")))

    def count(text: str) -> int:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    raw_run(), timed(engine.stream_rewrite("bench", text, params))  # warm both
    raw, single = [], []
    single_wall = 0.0
    for _ in range(args.rounds):  # alternate, so load on a shared machine hits both alike
        raw.append(raw_run())
        started = time.perf_counter()
        single.append(timed(engine.stream_rewrite("bench", text, params)))
        single_wall += time.perf_counter() - started
    concurrent_wall, concurrent = clients(engine, text, params, args.clients, args.rounds)
    engine.close()
    queued_engine = engine_for(1, args.threads)
    queued_wall, queued = clients(queued_engine, text, params, args.clients, max(1, args.rounds // 2))
    queued_engine.close()

    raw_rate = statistics.median(decode_rate(r, count) for r in raw)
    single_rate = statistics.median(decode_rate(r, count) for r in single)
    one_aggregate = sum(count(r[3]) for r in single) / single_wall
    many_aggregate = sum(count(r[3]) for r in concurrent) / concurrent_wall
    queued_aggregate = sum(count(r[3]) for r in queued) / queued_wall
    p95_one = percentile([r[1] for r in single], 95)
    p95_many = percentile([r[1] for r in concurrent], 95)
    p95_queued = percentile([r[1] for r in queued], 95)
    print(
        f"cores available: {len(os.sched_getaffinity(0))}, llama.cpp threads: {args.threads}, load average "
        f"{load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (a shared machine: other work "
        "runs beside this)"
    )
    print(
        f"embedded SmolLM2-135M Q4_1, {len(text.split())}-word paragraph, greedy, max_tokens {args.max_tokens}, "
        f"n_parallel {args.clients}, n_ctx {settings.n_ctx} per request; same text in "
        f"{len({r[3] for r in concurrent + single})} distinct outputs of {len(concurrent + single)} engine runs"
    )
    print(
        f"one client through the engine {single_rate:6.1f} tokens/s | raw llama-cpp-python {raw_rate:6.1f} tokens/s "
        f"| ratio {single_rate / raw_rate:.3f} (target >= {TARGET_SINGLE})"
    )
    print(
        f"{args.clients} clients, aggregate {many_aggregate:6.1f} tokens/s | one client {one_aggregate:6.1f} "
        f"tokens/s | ratio {many_aggregate / one_aggregate:.2f}x (target >= {TARGET_AGGREGATE}x); "
        f"queued one at a time (n_parallel 1): {queued_aggregate:.1f} tokens/s, "
        f"{queued_aggregate / one_aggregate:.2f}x"
    )
    print(
        f"120-word rewrite p95 latency, {args.clients} clients {p95_many:.2f} s | one client {p95_one:.2f} s "
        f"| ratio {p95_many / p95_one:.2f} (target < {TARGET_P95}); queued one at a time: {p95_queued:.2f} s, "
        f"{p95_queued / p95_one:.2f}"
    )
    llm.close()


if __name__ == "__main__":
    sys.exit(main())
