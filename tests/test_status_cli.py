"""`voiced status` over a real corpus and registry, with the daemon down and up, human and JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path

from job_support import fake_adapter, make_voice
from process_support import run_voiced

from voiced.cli.status_report import _feedback_summary
from voiced.daemon.process import start_daemon, stop_daemon
from voiced.paths import get_paths
from voiced.registry import Registry


def registry_with_history(tmp_path: Path) -> None:
    time.sleep(1.1)  # manifests keep whole seconds: v1 must be newer than the scanned passages
    registry = Registry.open("austen")
    kept = registry.finish_version(
        registry.begin_version({}),
        fake_adapter(tmp_path / "a"),
        None,
        {"status": "candidate", "corpus": {"words": 1234}, "scores": {"test_nll": {"base": 2.5, "candidate": 2.25}}},
    )
    registry.activate(kept.number)
    registry.finish_version(
        registry.begin_version({}),
        fake_adapter(tmp_path / "b"),
        None,
        {"status": "rejected", "reason": "not better than active v1"},
    )


def test_status_with_the_daemon_down(tmp_path: Path) -> None:
    make_voice(tmp_path)
    registry_with_history(tmp_path)
    out = run_voiced("status").stdout
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["VOICE", "ACTIVE", "SERVED", "TRAINED"]
    assert row.split()[:3] == ["austen", "v1", "-"] and "1,234" in row and "nll 2.250 vs base 2.500" in row
    assert "last rejected: not better than active v1" in out
    assert "Daemon: not running" in out
    data = json.loads(run_voiced("status", "--json").stdout)
    voice = data["voices"]["austen"]
    assert voice["adapters"]["active"]["version"] == 1 and voice["adapters"]["rejected"] == 1
    assert voice["corpus"]["words"] > 300 and voice["corpus"]["new_words"] == 0  # all older than v1
    assert data["daemon"] == {"running": False}
    assert voice["served"] is None  # nothing is served with the daemon down


def test_status_with_the_daemon_up(tmp_path: Path) -> None:
    config = make_voice(tmp_path)
    record, _ = start_daemon(timeout=120)
    try:
        data = json.loads(run_voiced("status", "--json").stdout)
        out = run_voiced("status").stdout
    finally:
        stop_daemon(timeout=30)
    daemon = data["daemon"]
    assert daemon["running"] and daemon["pid"] == record.pid and daemon["port"] == record.port
    assert daemon["rss_bytes"] > 10_000_000
    assert data["voices"]["austen"]["adapters"]["active"] is None
    assert data["voices"]["austen"]["corpus"]["new_words"] == data["voices"]["austen"]["corpus"]["words"] > 0
    assert data["next_training"] is not None and config.scheduler.enabled
    assert f"Daemon: running, pid {record.pid}, port {record.port}" in out
    assert out.splitlines()[1].split()[:2] == ["austen", "base"]


def test_feedback_summary_keeps_its_shape_when_the_corpus_is_unreadable() -> None:
    """`voiced status --json` gives the same keys whether or not the feedback could be read."""
    paths = get_paths()
    readable = _feedback_summary("austen", None, paths)
    assert readable["accepted"] == 0 and readable["shown"] == 0
    paths.corpus_db.parent.mkdir(parents=True, exist_ok=True)
    paths.corpus_db.write_bytes(b"this is not a database\n" * 200)
    broken = _feedback_summary("austen", None, paths)
    assert "error" in broken and broken["accepted"] == 0
    assert set(broken) - {"error"} == set(readable)
