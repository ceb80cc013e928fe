"""The corpus database: one SQLite file in WAL mode, one writer, many readers.

The daemon (or `voiced scan`) writes; the CLI and the trainer read at the same
time. Every document's passages are replaced inside one transaction, so a
reader sees either the old set or the new one, never a mix. Duplicate
paragraphs are kept in the table and hidden at read time (the oldest copy in a
voice wins), so deleting the file that held the kept copy lets the next copy
count again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from voiced.corpus.damage import database_error
from voiced.corpus.migrations import MIGRATIONS, applied_migrations, migrate
from voiced.corpus.passages import PassageLike
from voiced.corpus.records import (
    CorpusError,
    CorpusStats,
    DocumentPassages,
    ErrorRow,
    ExportRow,
    FileState,
    FolderStats,
    KnownDocument,
    StoredPassage,
    VoiceStats,
    WalkProblem,
    passage_hash,
)
from voiced.paths import Paths, get_paths
from voiced.private_files import make_private, make_private_dirs, open_private

BUSY_TIMEOUT_MS = 10_000

# A passage counts unless an older passage of the same voice has the same normalised text.
KEPT = (
    "NOT EXISTS (SELECT 1 FROM passages AS older "
    "WHERE older.voice = p.voice AND older.hash = p.hash AND older.id < p.id)"
)


def _private_file(path: Path) -> None:
    """Create the database file readable by the user alone, in a folder only they can enter."""
    make_private_dirs(path.parent)
    os.close(open_private(path, os.O_RDWR))


def _connect(db_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def _under_clause(under: str | None) -> tuple[str, list[Any]]:
    """SQL (and its arguments) keeping only rows whose path is ``under`` or inside it; none for None."""
    if under is None:
        return "", []
    prefix = under.rstrip(os.sep) + os.sep
    return " AND (path = ? OR substr(path, 1, ?) = ?)", [under, len(prefix), prefix]


class CorpusStore:
    """Documents and passages of every voice, with the queries the CLI, trainer and daemon need."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        _private_file(self.db_path)
        self._lock = threading.RLock()
        with self._guard():
            self._db = _connect(self.db_path)
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._check_not_newer()
                migrate(self._db)
            except BaseException:
                self._db.close()
                raise
        self._secure_files()

    @classmethod
    def open(cls, paths: Paths | None = None) -> CorpusStore:
        paths = paths or get_paths()
        paths.ensure_private(paths.data_dir)
        return cls(paths.corpus_db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CorpusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Every SQLite failure leaves as one CorpusError saying what happened and how to rebuild."""
        try:
            yield
        except sqlite3.ProgrammingError:
            raise  # a bug in voiced (a closed store, a bad query), not the database's fault
        except sqlite3.DatabaseError as exc:
            raise database_error(self.db_path, exc) from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The shared connection, for short reads."""
        with self._lock, self._guard():
            yield self._db

    def _rollback(self, statement: str = "ROLLBACK") -> None:
        """Undo after a failure; SQLite may already have rolled back on its own (a damaged page, a full disk)."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute(statement)

    def _check_not_newer(self) -> None:
        known = {m.__name__ for m in MIGRATIONS}
        unknown = [name for name in applied_migrations(self._db) if name not in known]
        if unknown:
            raise CorpusError(
                f"{self.db_path} was written by a newer version of voiced (migrations {', '.join(unknown)}).",
                fix="Upgrade voiced, or move the file aside and run `voiced scan` to rebuild the corpus.",
            )

    def _secure_files(self) -> None:
        """SQLite creates -wal/-shm itself; make sure they are as private as the database."""
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                make_private(f"{self.db_path}{suffix}")

    # ----------------------------------------------------------------- writes

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes into one transaction (a scan commits in batches, not per file)."""
        with self._lock, self._guard():
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing change: its own transaction, or a savepoint inside a batch."""
        with self._lock, self._guard():
            if self._db.in_transaction:
                self._db.execute("SAVEPOINT one_write")
                try:
                    yield self._db
                except BaseException:
                    self._rollback("ROLLBACK TO one_write")
                    self._rollback("RELEASE one_write")
                    raise
                self._db.execute("RELEASE one_write")
            else:
                with self.batch():
                    yield self._db

    def _upsert_document(
        self, db: sqlite3.Connection, state: FileState, status: str, error: str | None, notes: Sequence[str], now: float
    ) -> int:
        row = db.execute(
            """
            INSERT INTO documents (voice, path, folder, size, mtime_ns, content_hash, status, error, notes,
                                   first_seen, updated)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (voice, path) DO UPDATE SET
                folder = excluded.folder, size = excluded.size, mtime_ns = excluded.mtime_ns,
                content_hash = excluded.content_hash, status = excluded.status, error = excluded.error,
                notes = excluded.notes, updated = excluded.updated
            RETURNING id
            """,
            (
                state.voice,
                state.path,
                state.folder,
                state.size,
                state.mtime_ns,
                state.content_hash,
                status,
                error,
                json.dumps(list(notes)),
                now,
                now,
            ),
        ).fetchone()
        return int(row[0])

    def write_passages(self, state: FileState, passages: Sequence[PassageLike], notes: Sequence[str] = ()) -> int:
        """Replace a document's passages with a fresh extraction; returns the document id.

        A paragraph that was already in this document keeps its original
        ``added`` time, so an edit counts only the words it really changed.
        """
        now = time.time()
        with self._write() as db:
            doc_id = self._upsert_document(db, state, "ok", None, notes, now)
            previous = dict(
                db.execute("SELECT hash, MIN(added) FROM passages WHERE document_id = ? GROUP BY hash", (doc_id,))
            )
            db.execute("DELETE FROM passages WHERE document_id = ?", (doc_id,))
            rows = []
            for passage in passages:
                digest = passage_hash(passage.text)
                rows.append(
                    (
                        doc_id,
                        state.voice,
                        json.dumps(list(passage.section)),
                        passage.order,
                        passage.text,
                        passage.words,
                        digest,
                        previous.get(digest, now),
                    )
                )
            db.executemany(
                "INSERT INTO passages (document_id, voice, section, ord, text, words, hash, added) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return doc_id

    def write_error(self, state: FileState, reason: str) -> int:
        """Record that a file could not be read; its old passages go, so stale prose never trains."""
        with self._write() as db:
            doc_id = self._upsert_document(db, state, "error", reason, (), time.time())
            db.execute("DELETE FROM passages WHERE document_id = ?", (doc_id,))
        return doc_id

    def touch(self, voice: str, path: str, size: int, mtime_ns: int) -> None:
        """A file whose bytes did not change: remember its new mtime so the next scan skips it cheaply."""
        with self._write() as db:
            db.execute(
                "UPDATE documents SET size = ?, mtime_ns = ? WHERE voice = ? AND path = ?",
                (size, mtime_ns, voice, path),
            )

    def rename(self, voice: str, old: str, new: str, folder: str) -> bool:
        """Move a document to a new path (a rename in the folder), replacing whatever was recorded there."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM documents WHERE voice = ? AND path = ?", (voice, old)).fetchone() is None:
                return False
            db.execute("DELETE FROM documents WHERE voice = ? AND path = ?", (voice, new))
            db.execute(
                "UPDATE documents SET path = ?, folder = ?, updated = ? WHERE voice = ? AND path = ?",
                (new, folder, time.time(), voice, old),
            )
        return True

    def rename_tree(self, voice: str, old_dir: str, new_dir: str, folder: str) -> int:
        """Move every document under ``old_dir`` to the same place under ``new_dir``."""
        moved = 0
        with self.batch():
            for doc in self.known_documents(voice, under=old_dir).values():
                moved += self.rename(voice, doc.path, new_dir + doc.path[len(old_dir) :], folder)
        return moved

    def remove(self, voice: str, paths: Iterable[str]) -> int:
        """Forget documents (deleted or moved-out files) and their passages."""
        with self._write() as db:
            cursor = db.executemany("DELETE FROM documents WHERE voice = ? AND path = ?", [(voice, p) for p in paths])
            return max(cursor.rowcount, 0)

    def remove_voices_except(self, voices: Iterable[str]) -> int:
        """Forget voices that are no longer configured."""
        keep = list(voices)
        with self._write() as db:
            marks = ",".join("?" * len(keep))
            db.execute(f"DELETE FROM walk_problems WHERE voice NOT IN ({marks})", keep)
            return db.execute(f"DELETE FROM documents WHERE voice NOT IN ({marks})", keep).rowcount

    def replace_walk_problems(self, voice: str, problems: Iterable[WalkProblem], *, under: str | None = None) -> None:
        """Record what a scan of ``voice`` (or of its directory ``under``) could not enter, replacing
        what the last scan of the same scope recorded."""
        scope, args = _under_clause(under)
        now = time.time()
        with self._write() as db:
            db.execute(f"DELETE FROM walk_problems WHERE voice = ?{scope}", [voice, *args])
            db.executemany(
                "INSERT OR REPLACE INTO walk_problems (voice, path, folder, reason, seen) VALUES (?, ?, ?, ?, ?)",
                [(voice, p.path, p.folder, p.reason, now) for p in problems],
            )

    # ------------------------------------------------------------ scan support

    def known_documents(
        self, voice: str, *, under: str | None = None, folder: str | None = None
    ) -> dict[str, KnownDocument]:
        """The recorded documents of a voice (optionally under a directory or in a folder), by path."""
        sql = "SELECT id, path, folder, size, mtime_ns, content_hash, status FROM documents WHERE voice = ?"
        args: list[Any] = [voice]
        if folder is not None:
            sql += " AND folder = ?"
            args.append(folder)
        scope, scope_args = _under_clause(under)
        sql += scope
        args += scope_args
        with self._locked() as db:
            return {row[1]: KnownDocument(*row) for row in db.execute(sql, args)}

    def document(self, voice: str, path: str) -> KnownDocument | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT id, path, folder, size, mtime_ns, content_hash, status FROM documents "
                "WHERE voice = ? AND path = ?",
                (voice, path),
            ).fetchone()
        return KnownDocument(*row) if row else None

    def vanished_with_hash(self, voice: str, digest: str) -> KnownDocument | None:
        """A readable record with these bytes whose file is no longer on disk: the source of a move."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT id, path, folder, size, mtime_ns, content_hash, status FROM documents "
                "WHERE voice = ? AND content_hash = ? AND status = 'ok'",
                (voice, digest),
            ).fetchall()
        return next((KnownDocument(*row) for row in rows if not os.path.lexists(row[1])), None)

    # ----------------------------------------------------------------- reads

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for long reads, so a streaming reader never holds the writer up."""
        with self._guard():
            db = _connect(self.db_path)
            try:
                db.execute("PRAGMA query_only = ON")
                yield db
            finally:
                db.close()

    def documents_with_passages(self, voice: str) -> Iterator[DocumentPassages]:
        """Each document of ``voice`` with its kept passages, in document order (duplicates left out)."""
        with self._reader() as db:
            rows = db.execute(
                f"""
                SELECT d.path, p.section, p.ord, p.text, p.words, p.hash
                FROM passages AS p JOIN documents AS d ON d.id = p.document_id
                WHERE p.voice = ? AND {KEPT}
                ORDER BY d.path, p.ord
                """,
                (voice,),
            )
            current: str | None = None
            passages: list[StoredPassage] = []
            for path, section, order, text, words, digest in rows:
                if path != current:
                    if current is not None:
                        yield DocumentPassages(current, passages)
                    current, passages = path, []
                passages.append(StoredPassage(tuple(json.loads(section)), order, text, words, digest))
            if current is not None:
                yield DocumentPassages(current, passages)

    def export(self, voice: str | None = None) -> Iterator[ExportRow]:
        """Every kept passage with its document path and section, for JSON Lines export."""
        where = "p.voice = ? AND " if voice is not None else ""
        with self._reader() as db:
            rows = db.execute(
                f"""
                SELECT p.voice, d.path, p.section, p.ord, p.text, p.words
                FROM passages AS p JOIN documents AS d ON d.id = p.document_id
                WHERE {where}{KEPT}
                ORDER BY p.voice, d.path, p.ord
                """,
                (voice,) if voice is not None else (),
            )
            for voice_name, path, section, order, text, words in rows:
                yield ExportRow(voice_name, path, tuple(json.loads(section)), order, text, words)

    def sample(self, voice: str, count: int, seed: int = 0) -> list[ExportRow]:
        """A reproducible sample of kept passages: the same corpus and seed give the same passages."""
        with self._reader() as db:
            ids = db.execute(f"SELECT p.id, p.hash FROM passages AS p WHERE p.voice = ? AND {KEPT}", (voice,))

            def rank(row: tuple[int, str]) -> bytes:
                return hashlib.blake2b(f"{seed}:{row[1]}".encode(), digest_size=8).digest()

            chosen = [row[0] for row in sorted(ids, key=rank)[: max(count, 0)]]
            if not chosen:
                return []
            found = {
                row[0]: ExportRow(row[1], row[2], tuple(json.loads(row[3])), row[4], row[5], row[6])
                for row in db.execute(
                    f"""SELECT p.id, p.voice, d.path, p.section, p.ord, p.text, p.words
                    FROM passages AS p JOIN documents AS d ON d.id = p.document_id
                    WHERE p.id IN ({",".join("?" * len(chosen))})""",
                    chosen,
                )
            }
        return [found[i] for i in chosen]

    def stats(self, voice: str | None = None) -> CorpusStats:
        """Documents, errors, passages, words and last change per voice and per folder."""
        where, args = ("WHERE voice = ?", (voice,)) if voice is not None else ("", ())
        with self._reader() as db:
            docs = db.execute(
                f"SELECT voice, folder, COUNT(*), SUM(status = 'error'), MAX(updated) FROM documents {where} "
                "GROUP BY voice, folder",
                args,
            ).fetchall()
            unreadable = dict(db.execute(f"SELECT voice, COUNT(*) FROM walk_problems {where} GROUP BY voice", args))
            texts = {
                (row[0], row[1]): row[2:]
                for row in db.execute(
                    f"""SELECT voice, folder, SUM(kept), SUM(kept * words), SUM(1 - kept)
                    FROM (SELECT p.voice AS voice, d.folder AS folder, p.words AS words, {KEPT} AS kept
                          FROM passages AS p JOIN documents AS d ON d.id = p.document_id
                          {where.replace("voice", "p.voice")})
                    GROUP BY voice, folder""",
                    args,
                )
            }
        folders: dict[str, dict[str, FolderStats]] = {}
        for voice_name, folder, n_docs, n_errors, last in docs:
            kept, words, dupes = texts.get((voice_name, folder), (0, 0, 0))
            folders.setdefault(voice_name, {})[folder] = FolderStats(
                folder, n_docs, n_errors or 0, kept or 0, words or 0, dupes or 0, last
            )
        voices = {}
        for voice_name, by_folder in folders.items():
            rows = by_folder.values()
            voices[voice_name] = VoiceStats(
                voice_name,
                documents=sum(f.documents for f in rows),
                errors=sum(f.errors for f in rows),
                passages=sum(f.passages for f in rows),
                words=sum(f.words for f in rows),
                duplicates=sum(f.duplicates for f in rows),
                last_change=max((f.last_change for f in rows if f.last_change is not None), default=None),
                folders=dict(sorted(by_folder.items())),
                unreadable=unreadable.get(voice_name, 0),
            )
        for voice_name in unreadable.keys() - voices.keys():  # a voice whose only folder cannot be listed
            voices[voice_name] = VoiceStats(voice_name, 0, 0, 0, 0, 0, None, unreadable=unreadable[voice_name])
        return CorpusStats(dict(sorted(voices.items())))

    def errors(self, voice: str | None = None) -> list[ErrorRow]:
        """Files that could not be read and folders the scan could not enter, with the reason, newest first."""
        where, args = ("AND voice = ?", (voice,)) if voice is not None else ("", ())
        with self._locked() as db:
            rows = db.execute(
                f"""SELECT voice, path, error, updated, 'file' FROM documents WHERE status = 'error' {where}
                UNION ALL
                SELECT voice, path, reason, seen, 'folder' FROM walk_problems WHERE 1 {where}
                ORDER BY 4 DESC, 2""",
                args * 2,
            ).fetchall()
        return [ErrorRow(*row) for row in rows]

    def words_changed_since(self, voice: str, since: float) -> int:
        """Words in kept passages that appeared after ``since`` (the scheduler's retrain trigger)."""
        with self._reader() as db:
            row = db.execute(
                f"SELECT SUM(p.words) FROM passages AS p WHERE p.voice = ? AND p.added > ? AND {KEPT}", (voice, since)
            ).fetchone()
        return int(row[0] or 0)
