"""The corpus database itself: migrations, privacy, atomic replacement under a concurrent reader."""

from __future__ import annotations

import sqlite3
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from voiced.corpus import CorpusError, CorpusStore
from voiced.corpus.migrations import MIGRATIONS, m001_documents, migrate, schema
from voiced.corpus.records import FileState
from voiced.paths import get_paths


@dataclass(frozen=True)
class Para:
    """Stands in for voiced.extract.Passage where no file is involved (the store takes any such record)."""

    section: tuple[str, ...]
    order: int
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def state(path: str, digest: str = "h", voice: str = "v") -> FileState:
    return FileState(voice, path, "/notes", 10, 1, digest)


def test_blank_database_gets_every_migration(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "corpus.sqlite3")
    db = sqlite3.connect(tmp_path / "corpus.sqlite3")
    assert [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY rowid")] == [m.__name__ for m in MIGRATIONS]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "CREATE TABLE passages" in schema() and "documents_by_hash" in schema()
    store.close()


def test_old_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "corpus.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    assert migrate(old, [m001_documents]) == ["m001_documents"]
    old.execute(
        "INSERT INTO documents (voice, path, folder, size, mtime_ns, content_hash, status, first_seen, "
        "updated) VALUES ('v', '/notes/a.md', '/notes', 1, 1, 'x', 'ok', 0, 0)"
    )
    old.close()

    store = CorpusStore(path)
    assert store.document("v", "/notes/a.md") is not None
    store.write_passages(state("/notes/a.md", "y"), [Para((), 0, "Now the old document has prose.")])
    assert [d.path for d in store.documents_with_passages("v")] == ["/notes/a.md"]
    store.close()


def test_database_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "corpus.sqlite3"
    CorpusStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO migrations VALUES ('m999_future', 0)")
    db.commit()
    db.close()
    with pytest.raises(CorpusError, match="newer version"):
        CorpusStore(path)


def test_garbage_file_gives_a_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "corpus.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorpusError, match="is damaged") as info:
        CorpusStore(path)
    assert "voiced corpus rebuild" in info.value.fix and "voiced scan" in info.value.fix
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_database_files_are_private() -> None:
    store = CorpusStore.open()
    store.write_passages(state("/notes/a.md"), [Para((), 0, "Some private prose of the writer.")])
    db_path = get_paths().corpus_db
    for name in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    store.close()


def test_duplicates_are_hidden_at_read_time_and_return_when_the_kept_copy_goes(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "c.sqlite3")
    shared = "The same paragraph, pasted into two notes."
    store.write_passages(state("/notes/a.md"), [Para((), 0, shared)])
    store.write_passages(
        state("/notes/b.md"),
        [Para((), 0, "  the SAME paragraph, pasted into two notes. "), Para((), 1, "Only b has this one.")],
    )
    texts = [p.text for d in store.documents_with_passages("v") for p in d.passages]
    assert texts == [shared, "Only b has this one."]
    assert store.stats("v").voice("v").duplicates == 1
    store.remove("v", ["/notes/a.md"])
    texts = [p.text for d in store.documents_with_passages("v") for p in d.passages]
    assert texts == ["  the SAME paragraph, pasted into two notes. ", "Only b has this one."]


def test_words_changed_since_counts_only_new_paragraphs(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "c.sqlite3")
    first = Para((), 0, "one two three four five six")
    store.write_passages(state("/notes/a.md"), [first])
    mark = store.stats().voice("v").last_change
    store.write_passages(state("/notes/a.md", "h2"), [first, Para((), 1, "seven eight nine")])
    assert store.words_changed_since("v", mark) == 3
    assert store.words_changed_since("v", 0) == 9


def test_sample_is_reproducible(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "c.sqlite3")
    store.write_passages(state("/notes/a.md"), [Para((), i, f"Paragraph number {i} of the note.") for i in range(30)])
    first = store.sample("v", 5, seed=7)
    assert len(first) == 5
    assert store.sample("v", 5, seed=7) == first
    assert store.sample("v", 5, seed=8) != first


def test_reader_never_sees_a_partial_document(tmp_path: Path) -> None:
    """The trainer reads while the daemon replaces a document's passages again and again."""
    writer = CorpusStore(tmp_path / "c.sqlite3")
    reader = CorpusStore(tmp_path / "c.sqlite3")
    size = 50
    writer.write_passages(state("/notes/a.md", "v0"), [Para((), i, f"version 0 passage {i}") for i in range(size)])
    stop = threading.Event()
    problems: list[str] = []
    reads = 0

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            docs = list(reader.documents_with_passages("v"))
            versions = {p.text.split()[1] for d in docs for p in d.passages}
            if len(docs) != 1 or len(docs[0].passages) != size or len(versions) != 1:
                problems.append(f"{len(docs)} docs, versions {versions}")
            reads += 1

    thread = threading.Thread(target=read)
    thread.start()
    try:
        version = 0
        while reads < 20 and version < 2000:  # keep writing until the reader has overlapped many writes
            version += 1
            writer.write_passages(
                state("/notes/a.md", f"v{version}"),
                [Para((), i, f"version {version} passage {i}") for i in range(size)],
            )
    finally:
        stop.set()
        thread.join(10)
    assert reads > 0
    assert problems == []
