"""The corpus: the SQLite store of every voice's prose, kept in step with the writing folders.

`store` holds and queries it; `scanner` brings it up to date; `watcher` keeps
it up to date while files change; `selection` decides which files count.
"""

from voiced.corpus.records import (
    CorpusError,
    CorpusStats,
    DocumentPassages,
    ErrorRow,
    ExportRow,
    FolderStats,
    StoredPassage,
    VoiceStats,
)
from voiced.corpus.store import CorpusStore

__all__ = [
    "CorpusError",
    "CorpusStats",
    "CorpusStore",
    "DocumentPassages",
    "ErrorRow",
    "ExportRow",
    "FolderStats",
    "StoredPassage",
    "VoiceStats",
]
