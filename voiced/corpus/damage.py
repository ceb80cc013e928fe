"""When the corpus database fails: say what happened, check it, and set a damaged file aside.

The corpus is only voiced's copy of the prose in the writing folders, so a
damaged database never costs the writer anything: it can always be rebuilt by
reading the folders again. Every SQLite failure becomes one CorpusError that
says so, and says how (`voiced corpus rebuild`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from voiced.corpus.records import CorpusError

REBUILD = (
    "Your writing folders are untouched: the corpus is only voiced's copy of their prose. "
    "Run `voiced corpus rebuild` (it moves the damaged file aside and reads your folders again); "
    "by hand: stop the daemon, move {db} aside, run `voiced scan`."
)
DAMAGED_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
BUSY_CODES = {"SQLITE_BUSY", "SQLITE_LOCKED"}
SIDE_FILES = ("", "-wal", "-shm")  # SQLite's write-ahead log and index travel with the database
CHECK_LIMIT = 20  # problems quick_check lists at most; the first few say enough


def _code(exc: sqlite3.Error) -> str:
    """The primary SQLite result code (``SQLITE_IOERR_SHORT_READ`` -> ``SQLITE_IOERR``)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if not name and "malformed" in str(exc):
        return "SQLITE_CORRUPT"
    return "_".join(name.split("_")[:2])


def database_error(db_path: Path, exc: sqlite3.Error) -> CorpusError:
    """The CorpusError for a failure of the corpus database: what happened and what to do."""
    code = _code(exc)
    if code in BUSY_CODES:
        return CorpusError(
            f"The corpus database {db_path} stayed busy: another voiced process held it too long ({exc}).",
            fix="Nothing is damaged. Try again in a moment; if it keeps happening, `voiced daemon restart`.",
        )
    if code == "SQLITE_FULL":
        return CorpusError(
            f"The disk holding the corpus database {db_path} is full ({exc}).",
            fix="Free some space and try again; nothing was changed.",
        )
    if code in ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"):
        return CorpusError(
            f"voiced cannot open or write the corpus database {db_path} ({exc}).",
            fix=f"Check that {db_path.parent} is yours and writable. " + REBUILD.format(db=db_path),
        )
    what = "is damaged" if code in DAMAGED_CODES else "failed"
    return CorpusError(f"The corpus database {db_path} {what} ({exc}).", fix=REBUILD.format(db=db_path))


def damaged(db_path: Path, problems: list[str]) -> CorpusError:
    """The CorpusError for a database whose integrity check found problems."""
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return CorpusError(
        f"The corpus database {db_path} is damaged (integrity check: {shown}).", fix=REBUILD.format(db=db_path)
    )


def check_file(db_path: Path) -> list[str]:
    """SQLite's quick integrity check of the database at ``db_path``: the problems found, none when the
    file is sound or absent. Opened read-only, so a damaged file is never written.

    It reads every page once (well under a second for a writer's corpus), which is
    why `voiced scan` runs it and every query does not. A failure that is not
    damage (a busy or unreadable file) raises CorpusError.
    """
    if not db_path.exists():
        return []
    try:
        db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in db.execute(f"PRAGMA quick_check({CHECK_LIMIT})")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if _code(exc) in DAMAGED_CODES:
            return [str(exc)]  # damage that stops the check itself
        raise database_error(db_path, exc) from exc
    return [] if rows == ["ok"] else rows


def move_aside(db_path: Path, now: float | None = None) -> Path:
    """Rename the database (and its -wal/-shm) to ``<name>.damaged-<time>``; returns the new database path.

    Renaming keeps every byte, in case the writer wants to inspect or recover it.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    target = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    suffix = 1
    while any(Path(f"{target}{side}").exists() for side in SIDE_FILES):
        suffix += 1
        target = db_path.with_name(f"{db_path.name}.damaged-{stamp}-{suffix}")
    for side in SIDE_FILES:
        source = Path(f"{db_path}{side}")
        if source.exists():
            os.replace(source, f"{target}{side}")
    return target
