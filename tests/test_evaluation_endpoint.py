"""Model-written drafts for `voiced eval` from an OpenAI-compatible server on loopback, and their own figures.

The server is a real HTTP server on 127.0.0.1 speaking the chat-completions
shape; its "model" is a fixed function of the text, so what comes back is known."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voiced.config import Config
from voiced.evaluation.drafts import ENDPOINT, HELD_OUT, EvalPassage, endpoint_passages
from voiced.evaluation.run import CEILING, FLOOR, EvalResult, score_outputs
from voiced.reference_profiles import reference_profiles

ORIGINALS = [
    "Anne was not sorry to walk to Uppercross alone; the lanes were quiet.",
    "Captain Wentworth came back after eight years, to the surprise of everybody.",
    "Mary said that she was very ill, and could not possibly go.",
]


class DraftingModel(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        DraftingModel.requests.append(body)
        text = body["messages"][-1]["content"]
        if "Captain" in text:
            text = text.replace("Captain Wentworth", "the captain")  # loses a name: left out
        elif "Mary" not in text:
            text = text.replace("was not", "wasn't").replace(";", ".")
        reply = {"choices": [{"message": {"role": "assistant", "content": text}}]}  # Mary's: unchanged, left out
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), DraftingModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    DraftingModel.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_model_written_drafts_keep_names_and_change_something(endpoint):
    settings = Config().evaluation
    settings.draft_endpoint, settings.draft_model = endpoint, "eval-drafter"
    passages, notes = endpoint_passages(ORIGINALS, settings, seed=7)
    assert passages == [
        EvalPassage(
            "Anne wasn't sorry to walk to Uppercross alone. the lanes were quiet.", ORIGINALS[0], ENDPOINT, "endpoint"
        )
    ]
    assert notes == ["2 model-written drafts lost a name or a number or changed nothing and were left out"]
    assert [r["model"] for r in DraftingModel.requests] == ["eval-drafter"] * 3
    assert [r["seed"] for r in DraftingModel.requests] == [7, 8, 9]


def test_only_loopback_endpoints_and_a_dead_one_ends_the_source():
    settings = Config().evaluation
    settings.draft_endpoint = "http://192.0.2.1:1234"
    passages, notes = endpoint_passages(ORIGINALS, settings, seed=1)
    assert passages == [] and "only loopback" in notes[0]
    settings.draft_endpoint, settings.draft_timeout_seconds = "http://127.0.0.1:9", 2.0  # nothing listens
    passages, notes = endpoint_passages(ORIGINALS, settings, seed=1)
    assert passages == [] and notes[0].startswith("model-written drafts stopped after 0")
    settings.draft_endpoint = ""
    assert endpoint_passages(ORIGINALS, settings, seed=1) == ([], [])


def test_each_draft_source_gets_its_own_figures():
    passages = [
        EvalPassage("Anne wasn't sorry to walk to Uppercross alone.", ORIGINALS[0], HELD_OUT),
        EvalPassage("Anne wasn't sorry to walk to Uppercross alone. The lanes were quiet.", ORIGINALS[0], ENDPOINT),
    ]
    result = EvalResult("default", passages, {"base": [ORIGINALS[0], passages[1].rough]})
    score_outputs(result, reference_profiles()["austen"], Config().evaluation)
    assert set(result.by_source) == {HELD_OUT, ENDPOINT}
    assert list(result.by_source[HELD_OUT]) == [FLOOR, "base", CEILING]
    assert result.by_source[HELD_OUT]["base"]["copy"] == 0.0 and result.by_source[ENDPOINT]["base"]["copy"] == 1.0
    assert result.metrics["base"]["copy"] == pytest.approx(0.5)
    assert result.to_dict()["drafts"] == {HELD_OUT: 1, ENDPOINT: 1}
