"""End to end: a real daemon serves what the registry says after `voiced adapters ...` changed it, and a
damaged active adapter is answered by the base model with a notice that `voiced status` shows too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from adapter_support import add_version, damage, strong_adapter
from engine_support import TEXT
from job_support import make_voice
from process_support import run_voiced

from voiced.daemon.process import start_daemon, stop_daemon
from voiced.daemon.state import read_record
from voiced.registry import Registry

GREEDY = {"temperature": 0.0, "seed": 7, "max_tokens": 12}


def _rewrite(record) -> httpx.Response:
    response = httpx.post(
        f"http://127.0.0.1:{record.port}/v1/rewrite",
        json={"voice": "austen", "text": TEXT, **GREEDY},
        headers={"Authorization": f"Bearer {record.token}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response


def test_the_daemon_follows_the_cli_and_reports_a_damaged_adapter(tmp_path: Path) -> None:
    make_voice(tmp_path)
    one = add_version("austen", strong_adapter(tmp_path / "one", seed=1))
    start_daemon(timeout=120)
    try:
        record = read_record()
        base = _rewrite(record).json()
        assert base["notice"] is None
        run_voiced("adapters", "activate", str(one))  # writes the registry; the daemon is not told
        adapted = _rewrite(record).json()["text"]
        assert adapted != base["text"]
        data = json.loads(run_voiced("status", "--json").stdout)
        served = data["voices"]["austen"]["served"]
        assert served["version"] == one and not served["differs"] and served["adapter"].endswith("adapter.gguf")
        run_voiced("adapters", "rollback")
        assert _rewrite(record).json()["text"] == base["text"]

        Registry.open("austen").activate(one)
        version = Registry.open("austen").get(one)
        damage(version.gguf_path)
        damage(version.path / "adapter_model.safetensors")  # no intact source: nothing to rebuild from
        response = _rewrite(record)
        body = response.json()
        assert body["text"] == base["text"]  # served by the base model, not refused
        assert "damaged" in body["notice"] and "voiced adapters rollback" in body["notice"]
        assert response.headers["X-Voiced-Notice"].startswith(f"The active adapter v{one} is damaged")

        data = json.loads(run_voiced("status", "--json").stdout)
        voice = data["voices"]["austen"]
        assert voice["adapters"]["active"]["version"] == one
        assert voice["served"]["version"] is None and voice["served"]["differs"]
        assert voice["served"]["notice"] == body["notice"]
        out = run_voiced("status").stdout
        header, row = out.splitlines()[:2]
        assert header.split()[:3] == ["VOICE", "ACTIVE", "SERVED"]
        assert row.split()[:4] == ["austen", f"v{one}", "base", "!"]
        assert f"austen: the daemon serves the base model, the registry says v{one}: The active adapter" in out
    finally:
        stop_daemon(timeout=30)
