"""`voiced rewrite` and `voiced continue` refuse text that is not UTF-8, clearly, before anything is sent.

A rewrite is written back over the writer's text, so bytes guessed into
replacement characters would stick; the command says what is wrong and how to
convert, and never starts the daemon for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.paths import get_paths

LATIN1 = "Café au lait, s'il vous plaît.\n".encode("latin-1")  # é is 0xe9: not UTF-8


def _voiced(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "voiced", *args], input=stdin, capture_output=True, env=os.environ.copy(), timeout=120
    )


@pytest.mark.parametrize("command", ["rewrite", "continue"])
def test_invalid_utf8_on_standard_input_is_a_clear_error(command: str) -> None:
    result = _voiced(command, stdin=LATIN1)
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 1
    assert "Traceback" not in stderr
    assert "standard input is not valid UTF-8 (byte 0xe9 at offset 3)" in stderr
    assert "nothing was sent" in stderr and "iconv" in stderr
    assert not (get_paths().state_dir / "daemon.json").exists()  # no daemon was started for it


def test_invalid_utf8_in_a_file_names_the_file(tmp_path: Path) -> None:
    draft = tmp_path / "draft.txt"
    draft.write_bytes(LATIN1)
    result = _voiced("rewrite", str(draft))
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 1 and "Traceback" not in stderr
    assert f"in {draft} is not valid UTF-8" in stderr
    assert draft.read_bytes() == LATIN1
