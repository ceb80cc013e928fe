"""`make demo` itself, as the README tells a new user to run it."""

from __future__ import annotations

import os
import subprocess

import pytest
from data_support import REPO


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the demo's own limit below; it trains, gates on rewrites and rewrites twice
def test_make_demo(tmp_path):
    home = tmp_path / "demo-home"
    result = subprocess.run(
        ["make", "-s", "demo", f"DEMO_HOME={home}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "VOICED_HOME"},
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "austen: 8 files: 8 added" in out
    assert "total" in out and "Chapter" in out
    assert (home / "data" / "corpus.sqlite3").is_file()
    assert "rewritten by the base model" in out and "Side by side" in out
    # What the second rewrite is, said as the gate decided: the trained voice only if it is active.
    if "is now active" in out:
        assert "in the trained voice" in out and "Trained voice:" in out
    else:
        assert "still the base model" in out and "After training:" in out and "Trained voice:" not in out
    # Every phase of the job with its duration, and their summary (on the terminal's stderr).
    assert "Loading the base model: " in result.stderr and "Phases: dataset " in result.stderr
    assert "VOICE" in out and "Daemon: running" in out
