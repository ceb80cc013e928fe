"""Shared fixtures. Tests never touch the user's home: VOICED_HOME points every
directory voiced uses at a fresh temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"
DEMO_CORPUS = REPO / "examples" / "demo-corpus"


@pytest.fixture(autouse=True)
def voiced_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relocate all of voiced's config and state into the test's temp dir."""
    home = tmp_path / "voiced-home"
    monkeypatch.setenv("VOICED_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def austen_dir() -> Path:
    """The public-domain Austen novels (plain text, paragraphs separated by blank lines)."""
    if not AUSTEN.is_dir():
        pytest.fail(f"{AUSTEN} is missing: the shared corpora must sit beside the repository.")
    return AUSTEN


def run_voiced(*args: str, check: bool = True, input: str | None = None, timeout: float = 300):
    """Run the real `voiced` CLI in a subprocess with the test's VOICED_HOME."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "voiced", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        input=input,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"voiced {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
