"""What the corpus store hands out and takes in: small frozen records, no SQL."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from voiced.config import ConfigError


def content_hash(data: bytes) -> str:
    """The identity of a file's bytes: a touched-but-identical file keeps it."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def passage_hash(text: str) -> str:
    """The identity of a paragraph for duplicate detection.

    Case, Unicode compatibility forms and runs of whitespace do not make two
    copies of the same paragraph different.
    """
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.blake2b(normal.encode("utf-8"), digest_size=16).hexdigest()


class CorpusError(ConfigError):
    """The corpus database cannot be used; like a configuration error it carries its fix, and the CLI shows it so."""


@dataclass(frozen=True)
class FileState:
    """A file of a voice as the scanner last saw it on disk."""

    voice: str
    path: str
    folder: str
    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True)
class KnownDocument:
    """A document row as the scanner needs it to decide whether to re-read the file."""

    id: int
    path: str
    folder: str
    size: int
    mtime_ns: int
    content_hash: str
    status: str


@dataclass(frozen=True)
class StoredPassage:
    section: tuple[str, ...]
    order: int
    text: str
    words: int
    hash: str


@dataclass(frozen=True)
class DocumentPassages:
    """One document's kept passages, in document order (what the trainer reads)."""

    path: str
    passages: list[StoredPassage]


@dataclass(frozen=True)
class WalkProblem:
    """A path a scan could not go into: a folder it may not list, or a symbolic-link loop."""

    path: str
    folder: str
    reason: str


@dataclass(frozen=True)
class ErrorRow:
    """A skipped file (kind "file") or a folder or link the scan could not enter (kind "folder")."""

    voice: str
    path: str
    reason: str
    when: float
    kind: str = "file"


@dataclass(frozen=True)
class ExportRow:
    """One kept passage with where it came from (a JSON Lines record for `corpus export`)."""

    voice: str
    path: str
    section: tuple[str, ...]
    order: int
    text: str
    words: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "voice": self.voice,
            "path": self.path,
            "section": list(self.section),
            "order": self.order,
            "text": self.text,
            "words": self.words,
        }


@dataclass(frozen=True)
class FolderStats:
    folder: str
    documents: int = 0
    errors: int = 0
    passages: int = 0
    words: int = 0
    duplicates: int = 0
    last_change: float | None = None


@dataclass(frozen=True)
class VoiceStats:
    """Totals of one voice; passages and words count each duplicated text once."""

    voice: str
    documents: int
    errors: int
    passages: int
    words: int
    duplicates: int
    last_change: float | None
    folders: dict[str, FolderStats] = field(default_factory=dict)
    unreadable: int = 0  # folders or links the last scan could not enter (their documents are kept)


@dataclass(frozen=True)
class CorpusStats:
    voices: dict[str, VoiceStats]

    def voice(self, name: str) -> VoiceStats:
        """The stats of ``name``; an empty record for a voice with nothing scanned yet."""
        return self.voices.get(name) or VoiceStats(name, 0, 0, 0, 0, 0, None)
