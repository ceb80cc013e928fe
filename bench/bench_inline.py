"""Ghost-text benchmark: from the inline-completion trigger to the first ghost-text characters.

A real LSP client (pygls) starts `voiced lsp` over stdio and sends
`textDocument/inlineCompletion` (Invoked, with a partial-result token) at the
end of a paragraph; the time is from sending it to the first partial result
(`$/progress` with the text so far), which is when an editor can draw ghost
text. Beside it, in the same run, the daemon's own time to first token for the
same prompt and length through its HTTP streaming API. Target: under 300 ms.

    .venv/bin/python bench/bench_inline.py [--rounds 10]

State lives in a temporary VOICED_HOME; the daemon is started and stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from voiced.lsp.inline import StreamedInlineCompletionParams, send_partial_result_tokens, text_before

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"
TARGET_MS = 300.0


def paragraph() -> str:
    text = (AUSTEN / "emma.txt").read_text(encoding="utf-8")
    blocks = [" ".join(block.split()) for block in text.split("\n\n")]
    return next(block for block in blocks if 60 <= len(block.split()) <= 90)


def configure(home: Path, notes: Path, max_tokens: int) -> None:
    from voiced import voices as voices_lib
    from voiced.config import load_config, save_config

    os.environ["VOICED_HOME"] = str(home)
    notes.mkdir(parents=True)
    voices_lib.init_config(voice="bench")
    voices_lib.add_folder(notes, "bench")
    config = load_config()
    config.inference.temperature = 0.0
    config.inference.seed = 11
    config.editor.inline_max_tokens = max_tokens
    save_config(config)


async def start_client() -> tuple[LanguageClient, dict[str, float]]:
    client = LanguageClient("bench-inline", "1")
    send_partial_result_tokens(client.protocol._converter)
    first_partial: dict[str, float] = {}

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        first_partial.setdefault(str(params.token), time.perf_counter())

    await client.start_io(sys.executable, "-m", "voiced", "lsp")
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    return client, first_partial


async def lsp_first_ghost(client: LanguageClient, first_partial: dict, uri: str, position, round_: int) -> float:
    """Seconds from sending the request to the first partial result."""
    token = f"bench-{round_}"
    params = StreamedInlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=position,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        partial_result_token=token,
    )
    started = time.perf_counter()
    result = await client.text_document_inline_completion_async(params)
    if token not in first_partial:
        raise SystemExit(f"no partial result arrived (answer: {result})")
    return first_partial[token] - started


def wait_idle() -> None:
    """Until the daemon generates nothing (a ghost text stopped at its paragraph break winds down first),
    so neither measurement waits for the other's tail."""
    from voiced.daemon.client import DaemonClient

    with DaemonClient.connect(start_if_needed=False) as daemon:
        while daemon.status()["requests_in_flight"]:
            time.sleep(0.01)


def daemon_first_token(prompt: str, max_tokens: int) -> float:
    """Seconds from the HTTP request to the first streamed piece (then the stream is read to its end)."""
    from voiced.daemon.client import DaemonClient

    with DaemonClient.connect(start_if_needed=False) as daemon:
        started = time.perf_counter()
        pieces = daemon.stream_continue(None, prompt, max_tokens=max_tokens)
        next(pieces)
        first = time.perf_counter() - started
        for _ in pieces:
            pass
    return first


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        notes = Path(tmp) / "notes"
        configure(Path(tmp) / "home", notes, args.max_tokens)
        subprocess.run([sys.executable, "-m", "voiced", "daemon", "start"], check=True, capture_output=True)
        client, first_partial = await start_client()
        try:
            document = f"# Emma\n\n{paragraph()}"
            uri = (notes / "emma.md").as_uri()
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=document)
                )
            )
            lines = document.split("\n")
            position = types.Position(len(lines) - 1, len(lines[-1]))
            prompt = text_before(document, len(document))
            await lsp_first_ghost(client, first_partial, uri, position, -1)  # warm: daemon connection, caches
            await asyncio.to_thread(daemon_first_token, prompt, args.max_tokens)
            lsp, raw = [], []
            for round_ in range(args.rounds):  # interleaved, so both see the same machine
                await asyncio.to_thread(wait_idle)
                lsp.append(await lsp_first_ghost(client, first_partial, uri, position, round_))
                await asyncio.to_thread(wait_idle)
                raw.append(await asyncio.to_thread(daemon_first_token, prompt, args.max_tokens))
            lsp_ms, raw_ms = statistics.median(lsp) * 1000, statistics.median(raw) * 1000
            print(f"Ghost text at the end of a {len(prompt.split())}-word paragraph, {args.rounds} rounds (ms):")
            print(
                f"  trigger -> first ghost-text characters (voiced lsp): median {lsp_ms:7.1f}"
                f"   min {min(lsp) * 1000:7.1f}   max {max(lsp) * 1000:7.1f}   (target < {TARGET_MS:.0f})"
            )
            print(
                f"  daemon's own time to first token (HTTP stream):     median {raw_ms:7.1f}"
                f"   min {min(raw) * 1000:7.1f}   max {max(raw) * 1000:7.1f}"
            )
            pairs = ", ".join(f"{a * 1000:.0f}/{b * 1000:.0f}" for a, b in zip(lsp, raw, strict=True))
            print(f"  each round, lsp/daemon: {pairs}")
            print(f"  ratio of the medians lsp / daemon: {lsp_ms / raw_ms:.2f}")
        finally:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
            subprocess.run([sys.executable, "-m", "voiced", "daemon", "stop"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
