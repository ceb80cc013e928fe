"""`voiced train` with a daemon running: the promoted version is served as soon as the command returns,
before any request (the CLI tells the daemon; it does not wait for the daemon to notice)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest
from engine_support import TEXT
from job_support import make_voice
from process_support import run_voiced

from voiced.config import save_config
from voiced.daemon.process import start_daemon, stop_daemon
from voiced.daemon.state import read_record


@pytest.mark.slow
def test_a_promotion_by_the_cli_is_served_at_once(tmp_path: Path) -> None:
    config = make_voice(tmp_path)
    config.adapters = dataclasses.replace(config.adapters, gate_min_margin=0.0)
    config.evaluation.gate_mode = "nll"  # a promotion is what this test needs: the NLL gate with no margin
    config.inference.n_threads = 1
    save_config(config)
    start_daemon(timeout=180)
    try:
        record = read_record()
        headers = {"Authorization": f"Bearer {record.token}"}
        base = f"http://127.0.0.1:{record.port}"
        loaded = httpx.post(
            f"{base}/v1/rewrite",
            headers=headers,
            timeout=180,
            json={"voice": "austen", "text": TEXT, "temperature": 0.0, "max_tokens": 4},
        )
        assert loaded.status_code == 200
        trained = run_voiced("train", "--max-steps", "4", "--progress-json", timeout=1200)
        result = json.loads(trained.stdout.strip().splitlines()[-1])  # stdout stays JSON lines only
        assert result["status"] == "active", result["reason"]
        assert f"The running daemon now serves v{result['version']}" in trained.stderr
        served = httpx.get(f"{base}/v1/status", headers=headers, timeout=30).json()["engine"]["austen"]
        assert served["adapter_version"] == result["version"]
    finally:
        stop_daemon(timeout=30)
