"""Daemon benchmark: rewriting through the HTTP API against raw llama-cpp-python, in one run.

Starts a real daemon (embedded model plus an active GGUF LoRA adapter, loopback,
temporary VOICED_HOME) and measures:

* rewrite throughput of a 120-word paragraph streamed through the API, beside
  raw llama-cpp-python on the same GGUF and adapter with the same chat messages
  (target: API >= 0.95 of raw decoding speed). The reference is opened with the
  daemon's own settings (n_ctx, n_threads) and samples with the daemon's
  (temperature 0, seed 1, the config's top_p, top_k and repeat_penalty), so
  both decode the same tokens; API and raw rounds alternate while the daemon
  runs, so a busy machine slows both alike. Speed is output tokens (the joined
  text re-tokenised, the same count on both sides) per second after the first
  piece: the API may send several tokens in one piece;
* time to the first piece; p50/p95 latency of the whole rewrite;
* throughput with 4 concurrent clients (decoded together up to ``inference.n_parallel``;
  bench/bench_concurrency.py compares it with one client and with queued requests);
* the daemon's resident memory with the model loaded (target: under 400 MB);
* `voiced daemon start` until /v1/status answers, and the /v1/status round trip.

    .venv/bin/python bench/bench_daemon.py [--rounds 8] [--clients 4] [--threads N]

``--threads`` sets inference.n_threads for the daemon and the reference alike
(0, the default: one per core). On a machine shared with other work, use
fewer threads than free cores: llama.cpp's threads wait on each other, and
one that is descheduled stalls every token.
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


def timed(pieces) -> tuple[float, float, int, str]:
    """Seconds to the first piece, total seconds, the number of pieces, and the text."""
    start = time.perf_counter()
    first = None
    text = []
    for piece in pieces:
        text.append(piece)
        if first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, len(text), "".join(text)


def decode_rate(run: tuple[float, float, int, str], count_tokens) -> float:
    """Output tokens per second after the first piece (prompt processing excluded)."""
    first, total, _, text = run
    tokens = count_tokens(text)
    return (tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def install_adapter(voice: str, work: Path) -> Path:
    """A random (but output-changing) GGUF LoRA registered and activated as the voice's adapter."""
    from engine_support import write_lora_gguf
    from job_support import fake_adapter

    from voiced.registry import Registry

    adapter_dir = fake_adapter(work / "peft")
    gguf_path = write_lora_gguf(work / "adapter.gguf", seed=5)
    registry = Registry.open(voice)
    version = registry.begin_version({"note": "benchmark adapter"})
    finished = registry.finish_version(version, adapter_dir, gguf_path, {"status": "candidate"})
    registry.activate(finished.number)
    return registry.get(finished.number).gguf_path


class RawLlama:
    """The reference: llama-cpp-python alone, opened and sampling exactly as the daemon's engine does."""

    def __init__(self, gguf_lora: Path, config, voice: str, text: str, max_tokens: int) -> None:
        from voiced.inference.llama_runtime import open_llama
        from voiced.models import embedded_model_path
        from voiced.prompts import rewrite_messages

        settings = config.inference
        self.llm = open_llama(
            embedded_model_path(), lora_path=gguf_lora, n_ctx=settings.n_ctx, n_threads=settings.n_threads or None
        )
        self.messages = rewrite_messages(config.voices[voice].system_prompt, text)
        self.options = {
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "seed": 1,
            "top_p": settings.top_p,
            "top_k": settings.top_k,
            "repeat_penalty": settings.repeat_penalty,
        }

    def run(self) -> tuple:
        stream = self.llm.create_chat_completion(messages=self.messages, stream=True, **self.options)
        return timed(piece for chunk in stream if (piece := chunk["choices"][0]["delta"].get("content")))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--status-calls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="inference.n_threads for both sides (0: all cores)")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    home = Path(tempfile.mkdtemp(prefix="voiced-bench-daemon-"))
    os.environ["VOICED_HOME"] = str(home / "home")
    import psutil

    from voiced.config import Config, VoiceConfig, save_config
    from voiced.daemon.client import DaemonClient
    from voiced.daemon.process import start_daemon, stop_daemon

    config = Config(voices={"bench": VoiceConfig(name="bench")})
    config.inference.n_threads = args.threads
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
            raw_llama = RawLlama(gguf_lora, config, "bench", text, args.max_tokens)
            raw_llama.run()  # warm its caches as the first API rewrite warmed the daemon's
            api, raw = [], []
            for _ in range(args.rounds):  # alternate, so load on a shared machine hits both alike
                api.append(timed(client.stream_rewrite("bench", text, **options)))
                raw.append(raw_llama.run())

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

    api_rate = statistics.median(decode_rate(run, raw_llama.count_tokens) for run in api)
    raw_rate = statistics.median(decode_rate(run, raw_llama.count_tokens) for run in raw)
    same = sum(a[3] == r[3] for a, r in zip(api, raw, strict=False))
    print(
        f"cores available: {len(os.sched_getaffinity(0))}, llama.cpp threads: {args.threads or 'one per core'}, "
        f"load average {load_at_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    print(f"adapter: v{adapter} (GGUF LoRA on the embedded SmolLM2-135M Q4_1); paragraph: {len(text.split())} words")
    print(f"rewrite decoding speed, median of {args.rounds}:")
    print(
        f"  through the daemon's API:        {api_rate:6.1f} tokens/s "
        f"({statistics.median(raw_llama.count_tokens(r[3]) for r in api):.0f} tokens in "
        f"{statistics.median(r[2] for r in api):.0f} pieces)"
    )
    print(
        f"  reference, raw llama-cpp-python: {raw_rate:6.1f} tokens/s "
        f"({statistics.median(raw_llama.count_tokens(r[3]) for r in raw):.0f} tokens in "
        f"{statistics.median(r[2] for r in raw):.0f} pieces)"
    )
    print(
        f"  ratio {api_rate / raw_rate:.3f}   (target >= {TARGET_RATIO}); "
        f"same text in {same} of {len(api)} pairs; API and raw rounds alternate"
    )
    print(
        f"time to first piece: API p50 {percentile([r[0] for r in api], 50) * 1000:.0f} ms, "
        f"raw p50 {percentile([r[0] for r in raw], 50) * 1000:.0f} ms"
    )
    latencies = [r[1] for r in api]
    print(
        f"120-word rewrite latency through the API: p50 {percentile(latencies, 50):.2f} s, "
        f"p95 {percentile(latencies, 95):.2f} s"
    )
    tokens = sum(raw_llama.count_tokens(r[3]) for r in results)
    print(
        f"{args.clients} concurrent clients x 2 rewrites: {len(results)} done in {concurrent_seconds:.1f} s, "
        f"{tokens / concurrent_seconds:.1f} tokens/s overall, "
        f"latency p50 {percentile([r[1] for r in results], 50):.1f} s "
        f"(n_parallel {config.inference.n_parallel}: decoded together)"
    )
    print(f"daemon memory with the model loaded: {rss_mb:.0f} MB RSS   (target < {TARGET_RSS_MB} MB)")
    print(
        f"daemon start until /v1/status answers: {start_seconds:.2f} s; "
        f"GET /v1/status median {statistics.median(status_ms):.2f} ms"
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
