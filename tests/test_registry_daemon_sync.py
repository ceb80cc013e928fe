"""A real daemon and the real CLI: activate and rollback never leave the registry naming a version the
engine does not serve, registry errors map to HTTP statuses by type, and a CLI change is served at once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from adapter_support import finish, misshapen_gguf, real_adapter
from engine_support import TEXT
from process_support import run_voiced

from voiced.config import Config, VoiceConfig, save_config
from voiced.daemon.process import start_daemon, stop_daemon
from voiced.daemon.state import read_record
from voiced.registry import Registry

GREEDY = {"temperature": 0.0, "seed": 7, "max_tokens": 8}


def _call(record, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method,
        f"http://127.0.0.1:{record.port}{path}",
        timeout=180,
        headers={"Authorization": f"Bearer {record.token}"},
        **kwargs,
    )


def _served(record) -> dict:
    return _call(record, "GET", "/v1/status").json()["engine"]["austen"]


def test_activation_the_engine_cannot_serve_is_undone_and_cli_changes_are_served_at_once(tmp_path: Path) -> None:
    config = Config(voices={"austen": VoiceConfig(name="austen")})
    config.inference.n_threads = 1
    save_config(config)
    registry = Registry.open("austen")
    good = finish(registry, real_adapter(tmp_path / "good"))
    refused = finish(registry, real_adapter(tmp_path / "refused", seed=1))
    misshapen_gguf(refused.path / "adapter.gguf")  # passes validation; llama.cpp refuses it
    damaged = finish(registry, real_adapter(tmp_path / "damaged", seed=2))
    (damaged.path / "adapter.gguf").write_bytes(b"GGUF" + b"\x07" * 200)
    (damaged.path / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    registry.activate(good.number)
    start_daemon(timeout=180)
    try:
        record = read_record()
        assert _call(record, "POST", "/v1/rewrite", json={"voice": "austen", "text": TEXT, **GREEDY}).status_code == 200
        assert _served(record)["adapter_version"] == good.number

        # validation passes, llama.cpp refuses the file: the pointer goes back, the answer says why
        answer = run_voiced("adapters", "activate", str(refused.number), check=False)
        assert answer.returncode == 1 and "Traceback" not in answer.stderr
        assert f"could not switch voice 'austen' to v{refused.number}" in answer.stderr
        assert f"v{good.number} is still the active adapter" in answer.stderr
        assert "being rebuilt from its PEFT adapter" in answer.stderr  # the engine repairs it meanwhile
        assert Registry.open("austen").active_version() == good.number
        assert _served(record)["adapter_version"] == good.number

        # statuses by error type
        response = _call(record, "POST", "/v1/adapters/austen/activate", json={"version": damaged.number})
        assert response.status_code == 422 and response.json()["error"]["code"] == "corrupt_adapter"
        assert "adapter.gguf" in response.json()["error"]["message"]
        response = _call(record, "POST", "/v1/adapters/austen/activate", json={"version": 99})
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert Registry.open("austen").active_version() == good.number

        # a removal by the CLI is served before any request arrives
        run_voiced("adapters", "remove", str(good.number), "--force")
        assert _served(record)["adapter_version"] is None
        reload = _call(record, "POST", "/v1/adapters/austen/reload")
        assert reload.status_code == 200 and reload.json()["served"]["adapter_version"] is None

        # the hint was right: once the engine has rebuilt the refused GGUF LoRA, activating it again works
        deadline = time.monotonic() + 300
        while (_served(record).get("rebuild") or {}).get("state") != "done":
            assert time.monotonic() < deadline, _served(record)
            time.sleep(1)
        run_voiced("adapters", "activate", str(refused.number))
        assert _served(record)["adapter_version"] == refused.number
    finally:
        stop_daemon(timeout=30)
