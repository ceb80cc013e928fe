"""The rewrite guard in the engine and the daemon's API, on the real embedded model.

Greedy, the base model answers HAVEN with commentary ("I am a writing voice of the author whose
prose is inspired by their words. I will re-write this text in my own voice, ...") and gives TEXT
back word for word; with the guard on, no commentary reaches the output.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from engine_support import HAVEN, TEXT, embedded_config
from fastapi.testclient import TestClient

from voiced.daemon.api import DaemonContext, create_app
from voiced.inference.engine import Engine, GenerationCancelled, GenerationParams
from voiced.inference.rewrite_guard import GuardLimits, GuardReport, judge

GREEDY = GenerationParams(temperature=0.0, seed=7)


@pytest.fixture(scope="module")
def engine():
    config = embedded_config()
    config.inference.guard_retries = 0  # greedy answers are the same every time: one try says it all
    config.inference.draft_anchor_base = 0.0  # unanchored, the base model comments on HAVEN: these tests' premise
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        yield engine


@pytest.fixture(scope="module")
def commentary(engine: Engine) -> str:
    """The model's answer to HAVEN without the guard: the premise of these tests is that it is commentary."""
    engine.config.inference.guard = False
    try:
        answer = engine.rewrite("default", HAVEN, GREEDY)
        assert engine.rewrite("default", TEXT, GREEDY) == TEXT
    finally:
        engine.config.inference.guard = True
    assert judge(HAVEN, answer, GuardLimits.from_settings(engine.settings)).code == "commentary", answer
    return answer.split(".")[0]  # its first sentence, e.g. "I am a writing voice of the author ..."


def test_a_rejected_answer_never_reaches_the_output_and_is_reported(engine: Engine, commentary: str) -> None:
    text = f"# Home\n\n{HAVEN}\n\n{TEXT}\n"
    reports: list[GuardReport] = []
    pieces = list(engine.stream_rewrite("default", text, GREEDY, on_guard=reports.append))
    assert commentary not in "".join(pieces)
    assert "".join(pieces) == text  # the paragraph is the writer's draft
    assert HAVEN in pieces  # held until judged: the paragraph comes as one piece
    assert [(r.paragraph, r.outcome, r.code, r.attempts) for r in reports] == [
        (1, "rejected", "commentary", 1),
        (2, "unchanged", "unchanged", 1),
    ]
    assert "commented on the text" in reports[0].reason


def test_a_rejected_answer_is_tried_again_with_another_seed(engine: Engine, commentary: str) -> None:
    engine.config.inference.guard_retries = 1
    try:
        reports: list[GuardReport] = []
        out = engine.rewrite("default", HAVEN, GREEDY, on_guard=reports.append)
    finally:
        engine.config.inference.guard_retries = 0
    (report,) = reports
    assert report.attempts == 2 and report.code and commentary not in out
    assert (out == HAVEN) == (report.outcome == "rejected")


def test_cancelling_a_held_paragraph_yields_none_of_it(engine: Engine) -> None:
    cancel = threading.Event()
    stream = engine.stream_rewrite("default", HAVEN, GREEDY, cancel=cancel)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        list(stream)
    assert time.monotonic() - started < 10


def test_the_api_reports_the_guard_in_json_and_in_the_stream(engine: Engine, commentary: str) -> None:
    app = create_app(DaemonContext(config=engine.config, token="t", engine=engine))
    auth = {"Authorization": "Bearer t"}
    body = {"text": f"{HAVEN}\n\n{TEXT}", "temperature": 0.0, "seed": 7}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/v1/rewrite", json=body, headers=auth).json()
        assert answer["text"] == body["text"] and commentary not in answer["text"]
        assert [(g["paragraph"], g["outcome"], g["code"]) for g in answer["guard"]] == [
            (1, "rejected", "commentary"),
            (2, "unchanged", "unchanged"),
        ]
        with client.stream("POST", "/v1/rewrite", json={**body, "stream": True}, headers=auth) as response:
            events = [json.loads(line) for line in response.iter_lines() if line.strip()]
        kinds = [e["type"] for e in events]
        assert kinds[0] == "start" and kinds[-1] == "done"
        guard = [e for e in events if e["type"] == "guard"]
        assert [(g["paragraph"], g["outcome"]) for g in guard] == [(1, "rejected"), (2, "unchanged")]
        first_piece = kinds.index("piece")
        assert kinds.index("guard") < first_piece  # told before the paragraph it is about arrives
        assert "".join(e["text"] for e in events if e["type"] == "piece") == body["text"]
        continued = client.post("/v1/continue", json={"text": TEXT, "max_tokens": 4}, headers=auth).json()
        assert "guard" not in continued
