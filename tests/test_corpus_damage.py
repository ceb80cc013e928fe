"""A damaged corpus database: every command says so clearly, nothing writes into it, and it can be rebuilt.

The damage is real: garbage written over a page of a real corpus database in
the middle of its passages, so SQLite itself reports "database disk image is
malformed" on the reads that touch it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from data_support import DEMO_CORPUS
from process_support import run_voiced

from voiced.paths import get_paths

GARBAGE = bytes(range(0xD0, 0xF0)) * 128  # 4 KiB; 0xD0 is no b-tree page type


def corrupt_page_holding(db: Path, text: str) -> int:
    """Write garbage over the page that stores ``text``; returns its page number (1-based)."""
    with sqlite3.connect(db) as conn:  # make sure every committed page is in the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    needle = text.encode("utf-8")
    pages = [n for n in range(1, len(data) // page_size) if needle in data[n * page_size : (n + 1) * page_size]]
    assert pages, "the passage is not stored in one page"
    page = pages[0]
    data[page * page_size : (page + 1) * page_size] = GARBAGE[:page_size].ljust(page_size, b"\xee")
    db.write_bytes(bytes(data))
    return page + 1


@pytest.fixture
def damaged_corpus(tmp_path: Path) -> dict:
    """A scanned demo voice whose corpus database then loses a page in the middle of its passages."""
    notes = tmp_path / "notes"
    shutil.copytree(DEMO_CORPUS, notes)
    run_voiced("init", "--voice", "austen")
    run_voiced("add", str(notes), "--voice", "austen")
    run_voiced("scan")
    before = json.loads(run_voiced("corpus", "--json").stdout)[0]
    exported = [json.loads(line) for line in run_voiced("corpus", "export").stdout.splitlines()]
    assert before["documents"] >= 8 and len(exported) > 200
    db = get_paths().corpus_db
    total_pages = db.stat().st_size // 4096
    middle = exported[len(exported) // 2]["text"][:60]
    page = corrupt_page_holding(db, middle)
    assert 2 < page < total_pages, "the damaged page should sit inside the database, not at an end"
    writing = {p: p.read_bytes() for p in sorted(notes.rglob("*")) if p.is_file()}
    return {"notes": notes, "db": db, "before": before, "writing": writing, "bytes": db.read_bytes()}


def assert_clear_corpus_error(result, *, db: Path) -> None:
    """A clear error: no traceback, what happened, that the writing is safe, and the command that fixes it."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"The corpus database {db}" in result.stderr and "damaged" in result.stderr
    assert "writing folders are untouched" in result.stderr
    assert "voiced corpus rebuild" in result.stderr


def test_damaged_page_gives_the_corpus_error_everywhere(damaged_corpus):
    db = damaged_corpus["db"]
    for command in (["corpus"], ["corpus", "export"], ["corpus", "show"], ["dataset", "build"], ["train"]):
        assert_clear_corpus_error(run_voiced(*command, check=False), db=db)

    # `voiced scan` notices the damage (an integrity check) and writes nothing into the file.
    scanned = run_voiced("scan", check=False)
    assert_clear_corpus_error(scanned, db=db)
    assert "integrity check" in scanned.stderr
    assert db.read_bytes() == damaged_corpus["bytes"]

    # `voiced status` still shows what it can, and names the problem.
    status = run_voiced("status")
    assert "Traceback" not in status.stderr
    assert "austen" in status.stdout and "damaged" in status.stdout and "voiced corpus rebuild" in status.stdout
    data = json.loads(run_voiced("status", "--json").stdout)
    assert "damaged" in data["voices"]["austen"]["corpus"]["error"]
    assert data["voices"]["austen"]["adapters"]["active"] is None  # the registry part is still there

    # The writer's files never changed.
    notes = damaged_corpus["notes"]
    assert {p: p.read_bytes() for p in sorted(notes.rglob("*")) if p.is_file()} == damaged_corpus["writing"]


def test_rebuild_sets_the_damaged_file_aside_and_reads_the_folders_again(damaged_corpus):
    from voiced.corpus.damage import check_file

    db = damaged_corpus["db"]
    rebuilt = run_voiced("corpus", "rebuild")
    assert "Damage found" in rebuilt.stdout and "rebuilt" in rebuilt.stdout
    kept = sorted(db.parent.glob(f"{db.name}.damaged-*"))
    assert [p.name for p in kept if not p.name.endswith(("-wal", "-shm"))] == [kept[0].name]
    assert kept[0].read_bytes() == damaged_corpus["bytes"]  # every byte of the old file is kept
    assert str(kept[0]) in rebuilt.stdout

    after = json.loads(run_voiced("corpus", "--json").stdout)[0]
    before = damaged_corpus["before"]
    assert (after["documents"], after["passages"], after["words"]) == (
        before["documents"],
        before["passages"],
        before["words"],
    )
    assert check_file(db) == []
    assert "no damage found" in run_voiced("scan").stdout
    again = run_voiced("corpus", "rebuild")
    assert "nothing to rebuild" in again.stdout and not list(db.parent.glob(f"{db.name}.damaged-*-2"))


def test_rebuild_refuses_while_the_daemon_holds_the_corpus(damaged_corpus):
    import fcntl

    from voiced.daemon.state import lock_path

    lock = lock_path()
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:  # what a running daemon holds
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = run_voiced("corpus", "rebuild", check=False)
    assert refused.returncode == 1 and "voiced daemon stop" in refused.stderr
    assert damaged_corpus["db"].read_bytes() == damaged_corpus["bytes"]


def test_move_aside_keeps_every_file_under_a_new_name(tmp_path):
    from voiced.corpus.damage import move_aside

    db = tmp_path / "corpus.sqlite3"
    for suffix, content in (("", b"main"), ("-wal", b"log"), ("-shm", b"index")):
        Path(f"{db}{suffix}").write_bytes(content)
    first = move_aside(db, now=0)
    (db).write_bytes(b"second")
    second = move_aside(db, now=0)
    assert first != second and second.name.endswith("-2")
    assert [Path(f"{first}{s}").read_bytes() for s in ("", "-wal", "-shm")] == [b"main", b"log", b"index"]
    assert second.read_bytes() == b"second" and not db.exists()


def test_the_watcher_checks_first_and_never_writes_into_a_damaged_database(tmp_path, caplog):
    import logging
    import time

    from voiced.config import Config, VoiceConfig
    from voiced.corpus import CorpusStore
    from voiced.corpus.scanner import scan
    from voiced.corpus.watcher import CorpusWatcher

    notes = tmp_path / "notes"
    shutil.copytree(DEMO_CORPUS, notes)
    config = Config(voices={"v": VoiceConfig(name="v", folders=[str(notes)])})
    db = tmp_path / "corpus.sqlite3"
    with CorpusStore(db) as store:
        scan(store, config)
        kept = [p.text for d in store.documents_with_passages("v") for p in d.passages]
    corrupt_page_holding(db, kept[len(kept) // 2][:60])
    damaged_bytes = db.read_bytes()
    (notes / "new.md").write_text("A new paragraph the writer added while the database was damaged.\n")

    with CorpusStore(db) as store, caplog.at_level(logging.INFO, logger="voiced.corpus.watcher"):
        watcher = CorpusWatcher(store, config, scan_first=True)
        watcher.start()
        try:
            assert watcher.ready.wait(30)
            (notes / "later.md").write_text("Another paragraph, written after the watcher started.\n")
            time.sleep(config.watch.debounce_seconds + 0.5)
        finally:
            watcher.stop()
    assert watcher.damage is not None and "voiced corpus rebuild" in watcher.damage
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and all(r.exc_info is None for r in logged)
    assert "integrity check" in logged[0].getMessage()
    assert db.read_bytes() == damaged_bytes  # nothing was written into it


def test_the_daemons_corpus_route_says_what_the_cli_says(damaged_corpus):
    """GET /v1/corpus on a damaged database answers 503 with the corpus error, not a generic 500."""
    from fastapi.testclient import TestClient

    from voiced.config import load_config
    from voiced.daemon.api import DaemonContext, create_app

    ctx = DaemonContext(
        config=load_config(), token="t0ken", engine=None, engine_error="no model in this test", paths=get_paths()
    )
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as client:
        response = client.get("/v1/corpus", headers={"Authorization": "Bearer t0ken"})
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "corpus_unusable" and "damaged" in error["message"]
    assert "voiced corpus rebuild" in error["message"]
    assert damaged_corpus["db"].read_bytes() == damaged_corpus["bytes"]
