"""/v1/status's engine part is typed end to end: the real Engine.status() gives a VoiceStatus per voice, the
API's schema mirrors it field for field, and a status the engine cannot give is said in engine_error."""

from __future__ import annotations

import dataclasses

from engine_support import embedded_config
from fastapi.testclient import TestClient

from voiced.daemon.api import DaemonContext, create_app
from voiced.daemon.schemas import RebuildStatus, VoiceEngineStatus
from voiced.inference.engine import Engine
from voiced.inference.voice_status import Rebuild, VoiceStatus
from voiced.paths import get_paths

TOKEN = "status-token-456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _status(engine) -> dict:
    ctx = DaemonContext(config=engine.config, token=TOKEN, engine=engine, paths=get_paths())
    answer = TestClient(create_app(ctx), base_url="http://127.0.0.1").get("/v1/status", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_schema_mirrors_the_engines_status_field_for_field() -> None:
    assert list(VoiceEngineStatus.model_fields) == [f.name for f in dataclasses.fields(VoiceStatus)]
    assert list(RebuildStatus.model_fields) == [f.name for f in dataclasses.fields(Rebuild)]


def test_the_real_engines_status_is_served_as_it_is() -> None:
    config = embedded_config(other="embedded:SmolLM2-135M-Instruct")
    with Engine(config) as engine:  # nothing is loaded before the first request
        typed = engine.status()
        body = _status(engine)
    assert set(typed) == {"default", "other"} and all(isinstance(s, VoiceStatus) for s in typed.values())
    assert body["engine_error"] is None
    for voice, status in typed.items():
        assert body["engine"][voice] == dataclasses.asdict(status)
        assert VoiceEngineStatus.model_validate(body["engine"][voice]).loaded is False
    assert body["engine"]["other"]["base_model"] == "embedded:SmolLM2-135M-Instruct"


class _UnwellEngine:
    """An engine whose status itself fails (a worker in a bad state): the status page still answers."""

    def __init__(self) -> None:
        self.config = embedded_config()

    def status(self) -> dict[str, VoiceStatus]:
        raise RuntimeError("the worker table is being rebuilt")


def test_an_engine_that_cannot_say_what_it_serves_is_named_in_engine_error() -> None:
    body = _status(_UnwellEngine())
    assert body["engine"] == {}
    assert body["engine_error"] == "The engine could not say what it serves: the worker table is being rebuilt"
