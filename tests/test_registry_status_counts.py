"""`voiced status` counts what the gate rejected, not runs that failed (they were never judged)."""

from __future__ import annotations

import json
from pathlib import Path

from adapter_support import finish, real_adapter
from process_support import run_voiced

from voiced.config import Config, VoiceConfig, save_config
from voiced.registry import Registry


def test_failed_runs_are_not_counted_as_rejected(tmp_path: Path) -> None:
    save_config(Config(voices={"austen": VoiceConfig(name="austen")}))
    registry = Registry.open("austen")
    finish(
        registry,
        real_adapter(tmp_path / "a"),
        "rejected",
        reason="test NLL 2.5 is not better than the base model's 2.4",
    )
    failed = registry.begin_version({})
    registry.mark_failed(failed.number, "out of memory at step 3")
    adapters = json.loads(run_voiced("status", "--json").stdout)["voices"]["austen"]["adapters"]
    assert adapters["rejected"] == 1
    assert adapters["latest_rejected_reason"] == "test NLL 2.5 is not better than the base model's 2.4"
