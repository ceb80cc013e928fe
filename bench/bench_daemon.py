"""Daemon benchmark: rewriting through the HTTP API against raw llama-cpp-python, in one run.

Starts a real daemon (embedded model plus an active GGUF LoRA adapter, loopback,
temporary VOICED_HOME) and measures:

* rewrite throughput of a 120-word paragraph streamed through the API, beside
  raw llama-cpp-python on the same GGUF and adapter with the same chat messages
  (target: API >= 0.95 of raw decoding speed);
* time to the first piece; p50/p95 latency of the whole rewrite;
* throughput with 4 concurrent clients (one worker per model, so requests queue);
* the daemon's resident memory with the model loaded (target: under 400 MB);
* `voiced daemon start` until /v1/status answers, and the /v1/status round trip.

    .venv/bin/python bench/bench_daemon.py [--rounds 8] [--clients 4]
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

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"
sys.path.insert(0, str(REPO / "tests"))

TARGET_RATIO = 0.95
TARGET_RSS_MB = 400


def paragraph_of(words: int) -> str:
    text = (AUSTEN / "persuasion.txt").read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        block = " ".join(block.split())
        if abs(len(block.split()) - words) <= 6:
            return block
    raise SystemExit(f"no paragraph of about {words} words")


def timed(pieces) -> tuple[float, float, int]:
    """Seconds to the first piece, total seconds, and the number of pieces."""
    start = time.perf_counter()
    first = None
    count = 0
    for _ in pieces:
        count += 1
        if first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, count


def decode_rate(first: float, total: float, count: int) -> float:
    """Pieces per second after the first one (prompt processing excluded)."""
    return (count - 1) / (total - first) if count > 1 and total > first else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def install_adapter(voice: str, work: Path) -> Path:
    """A random (but output-changing) GGUF LoRA registered and activated as the voice's adapter."""
    from engine_support import write_lora_gguf
    from job_support import fake_adapter
    from voiced.trainer.registry import Registry

    adapter_dir = fake_adapter(work / "peft")
    gguf_path = write_lora_gguf(work / "adapter.gguf", seed=5)
    registry = Registry.open(voice)
    version = registry.begin_version({"note": "benchmark adapter"})
    finished = registry.finish_version(version, adapter_dir, gguf_path, {"status": "candidate"})
    registry.activate(finished.number)
    return registry.get(finished.number).gguf_path


def raw_llama(gguf_lora: Path, system_prompt: str, text: str, max_tokens: int, rounds: int) -> list[tuple]:
    from voiced.llama_runtime import open_llama
    from voiced.models import embedded_model_path
    from voiced.prompts import rewrite_messages

    llm = open_llama(embedded_model_path(), lora_path=gguf_lora, n_ctx=4096)
    runs = []
    for _ in range(rounds + 1):
        llm.reset()
        stream = llm.create_chat_completion(messages=rewrite_messages(system_prompt, text), max_tokens=max_tokens,
                                            temperature=0.0, seed=1, stream=True)
        runs.append(timed(chunk for chunk in stream if chunk["choices"][0]["delta"].get("content")))
    return runs[1:]  # the first warms the caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--status-calls", type=int, default=200)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="voiced-bench-daemon-"))
    os.environ["VOICED_HOME"] = str(home / "home")
    import psutil

    from voiced.client import DaemonClient
    from voiced.config import Config, VoiceConfig, save_config
    from voiced.daemon.process import start_daemon, stop_daemon

    config = Config(voices={"bench": VoiceConfig(name="bench")})
    save_config(config)
    gguf_lora = install_adapter("bench", home)
    text = paragraph_of(120)
    options = {"max_tokens": args.max_tokens, "temperature": 0.0, "seed": 1}

    began = time.perf_counter()
    record, _ = start_daemon(timeout=300)
    start_seconds = time.perf_counter() - began
    try:
        with DaemonClient(record) as client:
            list(client.stream_rewrite("bench", text, **options))  # load the model and the adapter
            adapter = client.status()["engine"]["bench"]["adapter_version"]
            rss_mb = psutil.Process(record.pid).memory_info().rss / 1e6
            status_ms = []
            for _ in range(args.status_calls):
                t0 = time.perf_counter()
                client.status()
                status_ms.append((time.perf_counter() - t0) * 1000)
            api = [timed(client.stream_rewrite("bench", text, **options)) for _ in range(args.rounds)]

            results: list[tuple] = []
            lock = threading.Lock()

            def one_client() -> None:
                with DaemonClient(record) as own:
                    for _ in range(2):
                        run = timed(own.stream_rewrite("bench", text, **options))
                        with lock:
                            results.append(run)

            t0 = time.perf_counter()
            threads = [threading.Thread(target=one_client) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            concurrent_seconds = time.perf_counter() - t0
    finally:
        stop_daemon()

    raw = raw_llama(gguf_lora, config.voices["bench"].system_prompt, text, args.max_tokens, args.rounds)

    api_rate = statistics.median(decode_rate(*run) for run in api)
    raw_rate = statistics.median(decode_rate(*run) for run in raw)
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}")
    print(f"adapter: v{adapter} (GGUF LoRA on the embedded SmolLM2-135M Q4_1); paragraph: {len(text.split())} words")
    print(f"rewrite decoding speed, median of {args.rounds}:")
    print(f"  through the daemon's API:        {api_rate:6.1f} tokens/s "
          f"({statistics.median(r[2] for r in api):.0f} pieces)")
    print(f"  reference, raw llama-cpp-python: {raw_rate:6.1f} tokens/s "
          f"({statistics.median(r[2] for r in raw):.0f} pieces)")
    print(f"  ratio {api_rate / raw_rate:.3f}   (target >= {TARGET_RATIO})")
    print(f"time to first piece: API p50 {percentile([r[0] for r in api], 50) * 1000:.0f} ms, "
          f"raw p50 {percentile([r[0] for r in raw], 50) * 1000:.0f} ms")
    latencies = [r[1] for r in api]
    print(f"120-word rewrite latency through the API: p50 {percentile(latencies, 50):.2f} s, "
          f"p95 {percentile(latencies, 95):.2f} s")
    pieces = sum(r[2] for r in results)
    print(f"{args.clients} concurrent clients x 2 rewrites: {len(results)} done in {concurrent_seconds:.1f} s, "
          f"{pieces / concurrent_seconds:.1f} tokens/s overall, "
          f"latency p50 {percentile([r[1] for r in results], 50):.1f} s (requests queue on one worker)")
    print(f"daemon memory with the model loaded: {rss_mb:.0f} MB RSS   (target < {TARGET_RSS_MB} MB)")
    print(f"daemon start until /v1/status answers: {start_seconds:.2f} s; "
          f"GET /v1/status median {statistics.median(status_ms):.2f} ms")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
