"""The corpus schema, grown by named migrations applied in order.

Each migration is a function ``mNNN_name(db)``; the ``migrations`` table records
the names already applied, so an old database is brought forward step by step
and a new one is built by the same steps. Never edit a released migration: add
the next one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence


def m001_documents(db: sqlite3.Connection) -> None:
    """One row per file of a voice: where it is, what it was when last read, and whether that worked."""
    db.execute(
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            voice TEXT NOT NULL,
            path TEXT NOT NULL,
            folder TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            error TEXT,
            notes TEXT NOT NULL DEFAULT '[]',
            first_seen REAL NOT NULL,
            updated REAL NOT NULL,
            UNIQUE (voice, path)
        )
        """
    )
    db.execute("CREATE INDEX documents_by_folder ON documents (voice, folder)")


def m002_passages(db: sqlite3.Connection) -> None:
    """The prose of each document, paragraph by paragraph, hashed so duplicates can be told apart at read time."""
    db.execute(
        """
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            voice TEXT NOT NULL,
            section TEXT NOT NULL,
            ord INTEGER NOT NULL,
            text TEXT NOT NULL,
            words INTEGER NOT NULL,
            hash TEXT NOT NULL,
            added REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX passages_by_document ON passages (document_id, ord)")
    # Serves "is there an older passage with this text in this voice?" (the duplicate rule).
    db.execute("CREATE INDEX passages_by_hash ON passages (voice, hash, id)")
    db.execute("CREATE INDEX passages_by_added ON passages (voice, added)")


def m003_documents_by_hash(db: sqlite3.Connection) -> None:
    """Find the record of a file that reappeared under another name (a move the watcher saw only half of)."""
    db.execute("CREATE INDEX documents_by_hash ON documents (voice, content_hash)")


def m004_walk_problems(db: sqlite3.Connection) -> None:
    """Folders a scan could not list and symbolic-link loops it did not follow, for `voiced corpus --errors`.

    Each scan replaces the rows of what it walked, so a folder readable again drops out.
    """
    db.execute(
        """
        CREATE TABLE walk_problems (
            id INTEGER PRIMARY KEY,
            voice TEXT NOT NULL,
            path TEXT NOT NULL,
            folder TEXT NOT NULL,
            reason TEXT NOT NULL,
            seen REAL NOT NULL,
            UNIQUE (voice, path)
        )
        """
    )


def m005_feedback(db: sqlite3.Connection) -> None:
    """What the writer did with each proposal the editor showed them (voiced.corpus.feedback)."""
    db.execute(
        """
        CREATE TABLE feedback (
            proposal_id TEXT PRIMARY KEY,
            voice TEXT NOT NULL,
            adapter_version INTEGER,
            kind TEXT NOT NULL CHECK (kind IN ('rewrite', 'continue')),
            outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'undone', 'edited', 'kept')),
            original TEXT NOT NULL,
            proposal TEXT NOT NULL,
            final_text TEXT,
            proposed_at REAL NOT NULL,
            settled_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX feedback_by_voice ON feedback (voice, adapter_version)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_documents,
    m002_passages,
    m003_documents_by_hash,
    m004_walk_problems,
    m005_feedback,
]


def applied_migrations(db: sqlite3.Connection) -> list[str]:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    return [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")]


def migrate(
    db: sqlite3.Connection, migrations: Sequence[Callable[[sqlite3.Connection], None]] | None = None
) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; returns the names applied now.

    ``db`` must be in autocommit mode (``isolation_level=None``). ``BEGIN IMMEDIATE``
    takes the write lock first, so two processes opening a new database at once
    cannot both apply the same step.
    """
    done_now: list[str] = []
    for migration in MIGRATIONS if migrations is None else migrations:
        name = migration.__name__
        db.execute("BEGIN IMMEDIATE")
        try:
            if name not in applied_migrations(db):
                migration(db)
                db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
                done_now.append(name)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return done_now


def schema() -> str:
    """The SQL of a fully migrated database, for the generated docs."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    rows = db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
    return "\n".join(f"{row[0].strip()};" for row in rows)
