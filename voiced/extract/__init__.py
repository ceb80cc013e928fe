"""Files to passages of prose: the contract the corpus builds on.

``extract_file`` reads a file safely (size cap, encodings, archives with an
unpacked-size cap) and dispatches on its extension to one module per format;
each format module yields headings and paragraphs, and ``prose.assemble``
decides what is prose. Every failure is an :class:`ExtractionError` whose
``reason`` is one sentence. An empty (or whitespace-only) file is not an
error: it yields no passages and the note "The file is empty.".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from voiced.config import SUPPORTED_EXTENSIONS, ExtractionSettings
from voiced.extract import docx, latex, markdown, odt, org, plaintext, rst
from voiced.extract.prose import Block, Passage, assemble, strip_gutenberg
from voiced.extract.reading import ExtractionError, FileVanishedError, decode_text, read_bytes

__all__ = [
    "Extraction",
    "ExtractionError",
    "FileVanishedError",
    "Passage",
    "extract_file",
    "extract_text",
    "is_supported",
    "FORMATS",
]

EMPTY_NOTE = "The file is empty."


@dataclass
class Extraction:
    """The passages of one document, in order, and non-fatal remarks about reading it."""

    passages: list[Passage]
    notes: list[str] = field(default_factory=list)


TextReader = Callable[[str], Iterable[Block]]
ArchiveReader = Callable[[bytes, ExtractionSettings], Iterable[Block]]

# Text formats by name (extract_text's ``fmt``) and their readers.
TEXT_FORMATS: dict[str, TextReader] = {
    "markdown": markdown.blocks,
    "text": plaintext.blocks,
    "rst": rst.blocks,
    "org": org.blocks,
    "latex": latex.blocks,
}
ARCHIVE_FORMATS: dict[str, ArchiveReader] = {
    "docx": docx.blocks,
    "odt": odt.blocks,
}

# File extension -> format name.
FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "rst",
    ".org": "org",
    ".tex": "latex",
    ".docx": "docx",
    ".odt": "odt",
}


def is_supported(path: Path) -> bool:
    """Whether the file's extension names a format voiced reads."""
    suffix = Path(path).suffix.lower()
    return suffix in FORMATS and suffix in SUPPORTED_EXTENSIONS


def extract_text(text: str, fmt: str, settings: ExtractionSettings) -> Extraction:
    """Passages of text already in memory; ``fmt`` is one of markdown, text, rst, org, latex."""
    reader = TEXT_FORMATS.get(fmt)
    if reader is None:
        raise ValueError(f"Unknown text format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}.")
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        return Extraction([], [EMPTY_NOTE])
    return Extraction(assemble(reader(strip_gutenberg(text)), settings))


def extract_file(path: Path, settings: ExtractionSettings) -> Extraction:
    """Passages of one file; raises ExtractionError (with ``.reason``) when it cannot be read."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExtractionError(
            f"Files ending in {path.suffix or '(no extension)'!r} are not a format voiced reads; "
            f"supported: {', '.join(sorted(FORMATS))}."
        )
    data = read_bytes(path, settings)
    if not data.strip():
        return Extraction([], [EMPTY_NOTE])
    if fmt in ARCHIVE_FORMATS:
        return Extraction(assemble(ARCHIVE_FORMATS[fmt](data, settings), settings))
    text, notes = decode_text(data)
    extraction = extract_text(text, fmt, settings)
    extraction.notes[:0] = notes
    return extraction
