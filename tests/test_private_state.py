"""Everything voiced creates under its directories is the user's alone, from the very first command.

`voiced train` run before any daemon used to create the state folder (and
VOICED_HOME itself) 0755 under the usual umask; `voiced dataset build` did the
same to data/datasets. Real commands in a fresh home, then a walk of the tree.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from process_support import run_voiced

PARA = "It is a truth universally acknowledged that a writer keeps {} notes in many folders of prose."


@pytest.fixture
def usual_umask():
    previous = os.umask(0o022)  # what most desktops use; the subprocesses inherit it
    yield
    os.umask(previous)


def _open_to_others(root: Path) -> list[str]:
    """Every folder and file under ``root`` (itself included) that its group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


def test_first_commands_create_every_level_private(tmp_path: Path, voiced_home: Path, usual_umask) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for n in range(4):
        (notes / f"note{n}.md").write_text("\n\n".join(PARA.format(f"{n}-{i}") for i in range(6)) + "\n")
    run_voiced("init", "--voice", "v")
    run_voiced("add", str(notes), "--voice", "v")
    with open(voiced_home / "config" / "config.toml", "a", encoding="utf-8") as config:
        config.write("\n[dataset]\nmin_corpus_words = 50\n")

    trained = run_voiced("train", check=False)  # before any scan or daemon: fails fast, corpus empty
    assert trained.returncode == 1 and "Traceback" not in trained.stderr
    assert (voiced_home / "state" / "logs").is_dir()
    run_voiced("scan")
    run_voiced("dataset", "build")
    assert (voiced_home / "data" / "datasets" / "v" / "train.jsonl").is_file()
    run_voiced("adapters", "list")
    assert _open_to_others(voiced_home) == []


def test_make_private_dirs_makes_each_missing_level_private(tmp_path: Path, usual_umask) -> None:
    from voiced.private_files import make_private_dirs

    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    leaf = make_private_dirs(existing / "a" / "b" / "c")
    assert leaf.is_dir()
    for level in (existing / "a", existing / "a" / "b", leaf):
        assert stat.S_IMODE(level.stat().st_mode) == 0o700, level
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # a level it did not create is left alone
    make_private_dirs(leaf)  # again: nothing to create, no error


def test_the_arena_store_creates_its_folders_private(voiced_home: Path, usual_umask) -> None:
    from voiced.evaluation.arena import ArenaStore

    store = ArenaStore.open()
    store.db.close()
    assert (voiced_home / "data" / "arena.sqlite3").is_file()
    assert _open_to_others(voiced_home) == []
