"""LSP benchmark: code action latency on a large document, and resolve overhead over the daemon.

* `textDocument/codeAction` round trips, p50/p99 over 1,000 requests at random
  lines of a 5,000-line Markdown document (target: p99 under 10 ms), beside the
  round trip of a request the server has no handler for (`textDocument/hover`,
  answered with an error at once), the protocol's own floor in the same run;
* resolve-to-edit time for a 120-word paragraph through `voiced lsp`, beside the
  daemon's raw rewrite of the same text with the same seed (target: overhead
  under 5%).

    .venv/bin/python bench/bench_lsp.py [--requests 1000] [--rewrites 5]

State lives in a temporary VOICED_HOME; the daemon is started and stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"
TARGET_P99_MS = 10.0
TARGET_OVERHEAD = 0.05


def paragraphs() -> list[str]:
    text = (AUSTEN / "emma.txt").read_text(encoding="utf-8")
    return [" ".join(block.split()) for block in text.split("\n\n") if len(block.split()) >= 12]


def large_document(lines: int) -> str:
    out: list[str] = []
    source = paragraphs()
    index = 0
    while len(out) < lines:
        if index % 12 == 0:
            out += [f"## Section {index // 12 + 1}", ""]
        words = source[index % len(source)].split()
        for start in range(0, len(words), 14):  # hard-wrapped prose, as many writers keep it
            out.append(" ".join(words[start : start + 14]))
        out.append("")
        index += 1
    return "\n".join(out[:lines]) + "\n"


def paragraph_of(words: int) -> str:
    for text in paragraphs():
        if abs(len(text.split()) - words) <= 5:
            return text
    raise SystemExit(f"no paragraph of about {words} words")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def start_client() -> LanguageClient:
    client = LanguageClient("bench", "1")
    await client.start_io(sys.executable, "-m", "voiced", "lsp")
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
            )
        )
    )
    await client.initialize_async(types.InitializeParams(capabilities=caps))
    client.initialized(types.InitializedParams())
    return client


async def code_action_latency(client: LanguageClient, uri: str, lines: int, count: int) -> tuple[list, list]:
    rng = random.Random(1)
    actions, floor = [], []
    for _ in range(count):
        line = rng.randrange(lines)
        position = types.Position(line, 0)
        started = time.perf_counter()
        await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(position, position),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        actions.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        try:  # the server has no hover: the error reply is the protocol's own round trip
            await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), position))
        except JsonRpcMethodNotFound:
            pass
        floor.append((time.perf_counter() - started) * 1000)
    return actions, floor


async def resolve_times(client: LanguageClient, uri: str, text: str, rounds: int) -> list[float]:
    times = []
    for version in range(2, 2 + rounds):
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "\n")],
            )
        )
        (action, *_) = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        started = time.perf_counter()
        resolved = await client.code_action_resolve_async(action)
        times.append(time.perf_counter() - started)
        assert resolved.edit is not None, "resolve returned no edit"
    return times


def raw_daemon_times(text: str, rounds: int) -> list[float]:
    from voiced.daemon.client import DaemonClient

    times = []
    with DaemonClient.connect(start_if_needed=False) as daemon:
        for _ in range(rounds):
            started = time.perf_counter()
            pieces = list(daemon.stream_rewrite(None, text))
            times.append(time.perf_counter() - started)
            assert pieces
    return times


def configure(home: Path, notes: Path) -> None:
    from voiced import voices as voices_lib
    from voiced.config import load_config, save_config

    os.environ["VOICED_HOME"] = str(home)
    notes.mkdir(parents=True)
    voices_lib.init_config(voice="bench")
    voices_lib.add_folder(notes, "bench")
    config = load_config()
    config.inference.temperature = 0.0
    config.inference.seed = 11
    save_config(config)


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        notes = Path(tmp) / "notes"
        configure(Path(tmp) / "home", notes)
        subprocess.run([sys.executable, "-m", "voiced", "daemon", "start"], check=True, capture_output=True)
        client = await start_client()
        try:
            lines = 5000
            document = large_document(lines)
            uri = (notes / "big.md").as_uri()
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=document)
                )
            )
            await code_action_latency(client, uri, lines, 50)  # warm-up
            actions, floor = await code_action_latency(client, uri, lines, args.requests)
            print(f"codeAction on a {lines}-line Markdown document, {args.requests} requests:")
            print(
                f"  p50 {percentile(actions, 50):6.2f} ms   p99 {percentile(actions, 99):6.2f} ms"
                f"   (target p99 < {TARGET_P99_MS:.0f} ms)"
            )
            print(
                f"  reference, an unhandled-request round trip: p50 {percentile(floor, 50):6.2f} ms"
                f"   p99 {percentile(floor, 99):6.2f} ms"
            )

            text = paragraph_of(120)
            small_uri = (notes / "para.md").as_uri()
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=small_uri, language_id="markdown", version=1, text=text + "\n")
                )
            )
            raw_daemon_times(text, 1)  # load the model and warm the caches
            lsp = await resolve_times(client, small_uri, text, args.rewrites)
            raw = await asyncio.to_thread(raw_daemon_times, text, args.rewrites)
            lsp_median, raw_median = statistics.median(lsp), statistics.median(raw)
            overhead = lsp_median / raw_median - 1
            print(f"Rewrite of a {len(text.split())}-word paragraph, median of {args.rewrites}:")
            print(f"  resolve -> edit through voiced lsp: {lsp_median:6.2f} s")
            print(f"  reference, raw daemon rewrite:      {raw_median:6.2f} s")
            print(f"  overhead {overhead * 100:+.1f}%   (target < {TARGET_OVERHEAD * 100:.0f}%)")
        finally:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
            subprocess.run([sys.executable, "-m", "voiced", "daemon", "stop"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rewrites", type=int, default=5)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
