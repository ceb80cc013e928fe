"""The one atomic writer and the one way to make private folders (voiced/private_files.py).

Real files under real umasks: the modes must not depend on the umask, a failed
write must leave the old content and no temporary file behind.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from voiced.private_files import (
    make_private,
    make_private_dirs,
    make_private_tree,
    open_private,
    write_private,
    write_private_with,
)

REPO = Path(__file__).resolve().parent.parent
PRODUCT_FOLDERS = ("voiced", "inference", "trainer", "evaluation", "daemon", "lsp", "cli")
MODE_LITERAL = re.compile(r"\b0o0?[67]00\b")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o077, 0o022], ids=["umask-000", "umask-077", "umask-022"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_private_makes_a_0600_file_whatever_the_umask(tmp_path: Path, umask) -> None:
    target = write_private(tmp_path / "token.json", '{"token": "é"}')
    assert mode(target) == 0o600
    assert target.read_text(encoding="utf-8") == '{"token": "é"}'
    write_private(tmp_path / "blob", b"\x00\x01", durable=False)
    assert mode(tmp_path / "blob") == 0o600 and (tmp_path / "blob").read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == []


def test_write_private_narrows_an_existing_wider_file(tmp_path: Path, umask) -> None:
    target = tmp_path / "daemon.json"
    target.write_text("old", encoding="utf-8")
    os.chmod(target, 0o644)
    write_private(target, "new")
    assert mode(target) == 0o600
    assert target.read_text(encoding="utf-8") == "new"


def test_missing_parent_folders_are_created_0700(tmp_path: Path, umask) -> None:
    target = write_private(tmp_path / "a" / "b" / "c" / "summary.json", "{}")
    for level in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert mode(level) == 0o700, level
    assert mode(target) == 0o600


def test_make_private_dirs_leaves_levels_it_did_not_create_but_narrows_the_folder_itself(tmp_path: Path, umask) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    os.chmod(existing, 0o755)
    leaf = make_private_dirs(existing / "x" / "y")
    assert [mode(existing / "x"), mode(leaf)] == [0o700, 0o700]
    assert mode(existing) == 0o755
    os.chmod(leaf, 0o755)
    make_private_dirs(leaf)  # exists already: only narrowed
    assert mode(leaf) == 0o700


class Boom(Exception):
    pass


def test_a_write_that_fails_midway_keeps_the_old_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = write_private(tmp_path / "adapter.safetensors", b"old weights")

    def half_then_fail(temporary: Path) -> None:
        temporary.write_bytes(b"half of the new")
        raise Boom("disk full")

    with pytest.raises(Boom):
        write_private_with(target, half_then_fail)
    assert target.read_bytes() == b"old weights"
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter.safetensors"]


def test_data_that_cannot_be_encoded_fails_before_anything_is_replaced(tmp_path: Path) -> None:
    target = write_private(tmp_path / "notes.jsonl", "old\n")
    with pytest.raises(UnicodeEncodeError):
        write_private(target, "a lone surrogate \udc80")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert leftovers(tmp_path) == []


def test_a_target_that_is_a_folder_is_refused_and_the_temp_file_removed(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "inside").write_text("kept", encoding="utf-8")
    with pytest.raises(OSError):
        write_private(folder, "new")
    assert (folder / "inside").read_text(encoding="utf-8") == "kept"
    assert leftovers(tmp_path) == []


def test_write_private_with_hands_the_writer_a_private_path_and_keeps_what_it_wrote(tmp_path: Path, umask) -> None:
    seen = []

    def library_save(temporary: Path) -> None:
        seen.append((temporary.parent, mode(temporary)))
        with open(temporary, "wb") as handle:  # as safetensors and gguf do: open by name, truncate
            handle.write(b"GGUF...")

    target = write_private_with(tmp_path / "adapter.gguf", library_save)
    assert seen == [(tmp_path, 0o600)]
    assert target.read_bytes() == b"GGUF..." and mode(target) == 0o600
    assert leftovers(tmp_path) == []


def test_open_private_creates_0600_and_narrows_an_existing_file(tmp_path: Path, umask) -> None:
    log = tmp_path / "daemon.log"
    os.close(open_private(log, os.O_WRONLY | os.O_APPEND))
    assert mode(log) == 0o600
    os.chmod(log, 0o666)
    fd = open_private(log, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"line\n")
    os.close(fd)
    assert mode(log) == 0o600 and log.read_bytes() == b"line\n"


def test_make_private_and_make_private_tree_narrow_what_a_library_wrote(tmp_path: Path, umask) -> None:
    saved = tmp_path / "merged"
    (saved / "sub").mkdir(parents=True)
    (saved / "model.safetensors").write_bytes(b"w")
    (saved / "sub" / "tokenizer.json").write_text("{}", encoding="utf-8")
    for path in (saved, saved / "sub"):
        os.chmod(path, 0o777)
    for path in (saved / "model.safetensors", saved / "sub" / "tokenizer.json"):
        os.chmod(path, 0o666)
    make_private_tree(saved)
    assert [mode(saved), mode(saved / "sub")] == [0o700, 0o700]
    assert [mode(saved / "model.safetensors"), mode(saved / "sub" / "tokenizer.json")] == [0o600, 0o600]
    report = tmp_path / "report.html"
    report.write_text("<html>", encoding="utf-8")
    os.chmod(report, 0o644)
    assert mode(make_private(report)) == 0o600


def test_no_product_module_spells_a_private_mode_itself() -> None:
    """The modes live in voiced/private_files.py; everything else goes through its helpers."""
    offenders = []
    for folder in PRODUCT_FOLDERS:
        for source in sorted((REPO / folder).rglob("*.py")):
            name = source.relative_to(REPO).as_posix()
            if name == "voiced/private_files.py":
                continue
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
                if MODE_LITERAL.search(line):
                    offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == [], "use voiced.private_files instead:\n" + "\n".join(offenders)


def test_a_rotating_log_keeps_every_file_private(tmp_path: Path) -> None:
    import logging

    from voiced.private_files import PrivateRotatingFileHandler

    previous = os.umask(0o022)  # the stock handler would make each new file 0644
    try:
        handler = PrivateRotatingFileHandler(tmp_path / "daemon.log", maxBytes=300, backupCount=2, encoding="utf-8")
        record = logging.LogRecord("voiced", logging.INFO, __file__, 1, "a request about %s", ("prose " * 10,), None)
        for _ in range(20):
            handler.emit(record)
        handler.close()
    finally:
        os.umask(previous)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["daemon.log", "daemon.log.1", "daemon.log.2"]  # it rotated
    assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
