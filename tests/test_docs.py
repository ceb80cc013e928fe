"""Docs that cannot drift: the command reference is regenerated from the code."""

from __future__ import annotations

import subprocess
import sys

from data_support import REPO


def test_cli_reference_is_current():
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "docs/cli.md", "docs/corpus.md", "docs/daemon.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"the generated docs are out of date: run `make docs`.\n{result.stdout}{result.stderr}"
    )
