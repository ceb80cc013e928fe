"""Folders a scan cannot enter are reported, and a folder that is only unreadable for now keeps its documents.

Real folders, real links, the real CLI. Tests run as root here, and root reads
any folder whatever its mode; so the scan that must meet an unreadable folder
runs without the two capabilities that let root ignore permissions
(`setpriv --bounding-set`), exactly like a writer's own process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from process_support import run_voiced

PARA = "It is a truth universally acknowledged that a writer keeps {} notes in many folders."


def _write(path: Path, *tags: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(PARA.format(tag) for tag in tags) + "\n")


def _voice(folder: Path) -> None:
    run_voiced("init", "--voice", "v")
    run_voiced("add", str(folder), "--voice", "v")


def _corpus() -> dict:
    return json.loads(run_voiced("corpus", "--json").stdout)[0]


def _errors() -> dict[str, dict]:
    return {row["path"]: row for row in json.loads(run_voiced("corpus", "--errors", "--json").stdout)}


def run_voiced_as_writer(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a process that file permissions apply to (root without DAC override)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a folder unreadable")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "voiced", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def test_symlink_loops_are_listed_and_not_followed(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    _write(notes / "a.md", "top")
    _write(notes / "sub" / "b.md", "inner")
    (notes / "sub" / "again").symlink_to(notes / "sub", target_is_directory=True)  # a folder linking to itself
    (notes / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)  # above the writing folder
    (notes / "self.md").symlink_to(notes / "self.md")  # a link to itself
    _voice(notes)
    scanned = run_voiced("scan").stdout
    assert "2 added" in scanned and str(notes / "sub" / "again") in scanned

    assert _corpus()["documents"] == 2 and _corpus()["unreadable"] == 3
    errors = _errors()
    assert set(errors) == {str(notes / "sub" / "again"), str(notes / "sub" / "up"), str(notes / "self.md")}
    assert all(row["kind"] == "folder" and "loop" in row["reason"] for row in errors.values())
    listed = run_voiced("corpus", "--errors").stdout
    assert f"{notes / 'sub' / 'again'}/" in listed and "not followed" in listed

    (notes / "sub" / "again").unlink()  # fixed: the next scan no longer lists it
    (notes / "sub" / "up").unlink()
    run_voiced("scan")
    assert set(_errors()) == {str(notes / "self.md")}


def test_a_folder_unreadable_for_now_keeps_its_documents_and_is_listed(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    _write(notes / "a.md", "top")
    _write(notes / "drafts" / "b.md", "draft", "second draft")
    _write(notes / "drafts" / "deeper" / "c.md", "deep")
    _voice(notes)
    run_voiced("scan")
    before = _corpus()
    assert before["documents"] == 3

    locked = notes / "drafts"
    os.chmod(locked, 0)
    try:
        scanned = run_voiced_as_writer("scan")
    finally:
        os.chmod(locked, 0o755)
    assert scanned.returncode == 0, scanned.stderr
    assert "0 removed" in scanned.stdout and f"{locked} could not be entered" in scanned.stdout
    during = _corpus()
    assert (during["documents"], during["passages"], during["words"]) == (
        before["documents"],
        before["passages"],
        before["words"],
    )
    row = _errors()[str(locked)]
    assert row["kind"] == "folder" and "Permission denied" in row["reason"] and "kept" in row["reason"]
    assert "could not be entered" in run_voiced("corpus").stdout

    # Readable again: nothing to report, nothing lost, nothing read twice.
    again = run_voiced_as_writer("scan")
    assert again.returncode == 0 and "0 added, 0 updated" in again.stdout and "0 removed" in again.stdout
    assert _errors() == {} and _corpus()["documents"] == 3


def test_a_writing_folder_behind_a_locked_folder_is_reported_not_missing(tmp_path: Path) -> None:
    box = tmp_path / "box"
    notes = box / "notes"
    _write(notes / "a.md", "boxed")
    _voice(notes)
    run_voiced("scan")
    os.chmod(box, 0)
    try:
        scanned = run_voiced_as_writer("scan")
    finally:
        os.chmod(box, 0o755)
    assert scanned.returncode == 0, scanned.stderr
    assert f"{notes} could not be entered" in scanned.stdout and "does not exist" not in scanned.stdout
    assert "0 removed" in scanned.stdout and _corpus()["documents"] == 1
    assert "Permission denied" in _errors()[str(notes)]["reason"]
