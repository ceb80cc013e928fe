"""Rough drafts from a real OpenAI-compatible server on loopback, and the fallback when it fails."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dataset_support import austen_documents

from voiced.config import DatasetSettings
from voiced.trainer.dataset import build_dataset
from voiced.trainer.rough_endpoint import EndpointError, EndpointRoughener, check_loopback
from voiced.trainer.roughen import protected_tokens


class _Server:
    """A tiny chat-completions server answering every request with ``reply(text)``."""

    def __init__(self, reply, status: int = 200) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                payload = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": reply(body["messages"][-1]["content"])}}]}
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _settings(url: str) -> DatasetSettings:
    return DatasetSettings(rough_draft_endpoint=url, rewrite_share=1.0, section_weight=0, document_weight=0)


def test_the_endpoint_writes_the_rough_drafts():
    with _Server(lambda text: "DRAFT: " + text) as server:
        settings = _settings(server.url)
        rough = EndpointRoughener(settings.rough_draft_endpoint, settings.rough_draft_model, 5, 0.5)
        dataset = build_dataset("v", austen_documents(9), "S", settings, roughener=rough)
    examples = [ex for rows in dataset.examples.values() for ex in rows]
    assert examples and all(ex.rough_style == "endpoint" for ex in examples)
    assert all(ex.prompt_text == "DRAFT: " + ex.response_text for ex in examples)
    assert len(server.requests) == len(examples)
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "local-model" and request["body"]["messages"][0]["role"] == "system"
    assert dataset.notes == []


def test_drafts_that_lose_names_are_replaced_offline():
    with _Server(lambda text: "Someone did something somewhere.") as server:
        rough = EndpointRoughener(server.url + "/v1", "m", 5, 0.5)
        dataset = build_dataset("v", austen_documents(9), "S", _settings(server.url), roughener=rough)
    examples = [ex for rows in dataset.examples.values() for ex in rows]
    with_names = [ex for ex in examples if protected_tokens(ex.response_text)]
    assert with_names and all(ex.rough_style != "endpoint" for ex in with_names)
    assert any(ex.rough_style == "endpoint" for ex in examples if not protected_tokens(ex.response_text))
    assert any("lost a name or a number" in note for note in dataset.notes)


def test_a_failing_endpoint_falls_back_once_with_a_note():
    with _Server(lambda text: text, status=500) as server:
        rough = EndpointRoughener(server.url, "m", 5, 0.5)
        dataset = build_dataset("v", austen_documents(9), "S", _settings(server.url), roughener=rough)
    assert len(server.requests) == 1  # switched off after the first failure
    examples = [ex for rows in dataset.examples.values() for ex in rows]
    assert all(ex.rough_style in ("generic", "verbose", "loose", "structure", "fallback") for ex in examples)
    assert len(dataset.notes) == 1 and "failed" in dataset.notes[0] and "offline" in dataset.notes[0]


def test_only_loopback_endpoints_are_accepted():
    assert check_loopback("http://localhost:11434") == "http://localhost:11434/v1/chat/completions"
    assert check_loopback("http://[::1]:1234/v1/") == "http://[::1]:1234/v1/chat/completions"
    for bad in ("http://192.168.1.5:1234", "http://example.invalid/v1", "ftp://127.0.0.1"):
        with pytest.raises(EndpointError):
            check_loopback(bad)
    rough = EndpointRoughener("http://10.0.0.1:1234", "m", 5, 0.5)
    assert rough("Anne walked to Uppercross with Mary.", 1).source == "offline"
    assert "loopback" in rough.notes[0]
