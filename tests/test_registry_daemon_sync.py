"""A real daemon and the real CLI: activate and rollback never leave the registry naming a version the
engine does not serve, registry errors map to HTTP statuses by type, and a CLI change is served at once."""

from __future__ import annotations

from pathlib import Path

import gguf
import httpx
import numpy as np

from adapter_support import finish, real_adapter
from conftest import run_voiced
from engine_support import TEXT
from voiced.config import Config, VoiceConfig, save_config
from voiced.daemon.process import start_daemon, stop_daemon
from voiced.daemon.state import read_record
from voiced.trainer.registry import Registry

GREEDY = {"temperature": 0.0, "seed": 7, "max_tokens": 8}


def _mismatched_lora(path: Path) -> Path:
    """A well-formed GGUF LoRA (it passes validation) whose shapes fit no layer of the base: llama.cpp refuses it."""
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 2.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.ones((2, 100), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.ones((100, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _call(record, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{record.port}{path}", timeout=180,
                         headers={"Authorization": f"Bearer {record.token}"}, **kwargs)


def _served(record) -> dict:
    return _call(record, "GET", "/v1/status").json()["engine"]["austen"]


def test_activation_the_engine_cannot_serve_is_undone_and_cli_changes_are_served_at_once(tmp_path: Path) -> None:
    config = Config(voices={"austen": VoiceConfig(name="austen")})
    config.inference.n_threads = 1
    save_config(config)
    registry = Registry.open("austen")
    good = finish(registry, real_adapter(tmp_path / "good"))
    refused = finish(registry, real_adapter(tmp_path / "refused", seed=1))
    _mismatched_lora(refused.path / "adapter.gguf")
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
    finally:
        stop_daemon(timeout=30)
