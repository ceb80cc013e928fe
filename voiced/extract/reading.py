"""Reading a writer's file safely: bounded bytes, honest decoding, bounded archives.

Every way a file can fail to be read (too large, gone, forbidden, a symlink
loop, binary, a damaged or bomb-like archive) becomes an ExtractionError
whose ``reason`` is one sentence saying what happened and what to do.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree

from voiced.config import ExtractionSettings
from voiced.errors import VoicedError

CHUNK = 1 << 16
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc and password-protected Office files
SNIFF_BYTES = 8192
MAX_CONTROL_SHARE = 0.10  # more control characters than this means a binary file, not text
TEXT_CONTROLS = {0x09, 0x0A, 0x0C, 0x0D, 0x1B}  # tab, newline, form feed, carriage return, escape

BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32 BE"),
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe", "utf-16-le", "UTF-16 LE"),
    (b"\xfe\xff", "utf-16-be", "UTF-16 BE"),
)


class ExtractionError(VoicedError):
    """A file that yields no passages for a reason the writer should see.

    ``reason`` is one sentence for `voiced corpus --errors`: what happened and
    what to do about it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileVanishedError(ExtractionError, FileNotFoundError):
    """The file disappeared while it was being read.

    Also a FileNotFoundError, so a scanner that treats a vanished file as
    "its removal is another event's business" keeps doing so.
    """


def _os_reason(exc: OSError, path: Path) -> ExtractionError:
    """Turn an operating-system failure into a reason the writer can act on."""
    code = exc.errno
    if code == errno.ENOENT:
        return FileVanishedError("The file disappeared while it was being read; it will be read again if it returns.")
    if code in (errno.EACCES, errno.EPERM):
        return ExtractionError(
            "Permission denied: voiced may not read this file. Change its permissions or exclude it."
        )
    if code == errno.ELOOP:
        return ExtractionError("The path is a symbolic link loop (it points back to itself). Fix or remove the link.")
    if code == errno.EISDIR:
        return ExtractionError("The path is a directory, not a file. Rename it or exclude it.")
    detail = exc.strerror or str(exc)
    return ExtractionError(f"Cannot read the file ({detail}). Check the disk and the file, or exclude it.")


def too_large(size: int, settings: ExtractionSettings) -> ExtractionError:
    return ExtractionError(
        f"The file is {size:,} bytes, larger than extraction.max_file_bytes ({settings.max_file_bytes:,} bytes). "
        "Raise that setting to read it, or exclude the file."
    )


def read_bytes(path: Path, settings: ExtractionSettings) -> bytes:
    """The file's bytes, never more than ``max_file_bytes`` even if it grows while read.

    Only regular files are opened (a FIFO or device would block or never end),
    and the open is non-blocking so a file swapped for a FIFO cannot hang us.
    """
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ExtractionError("The path is not a regular file (a pipe, socket or device). Exclude it.")
        if info.st_size > settings.max_file_bytes:
            raise too_large(info.st_size, settings)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ExtractionError("The path is not a regular file (a pipe, socket or device). Exclude it.")
            data = handle.read(settings.max_file_bytes + 1)
    except OSError as exc:
        raise _os_reason(exc, path) from exc
    if len(data) > settings.max_file_bytes:
        raise too_large(len(data), settings)
    return data


def _looks_binary(data: bytes) -> bool:
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if (byte < 0x20 and byte not in TEXT_CONTROLS) or byte == 0x7F)
    return bool(head) and controls / len(head) > MAX_CONTROL_SHARE


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """Bytes to text with Unix newlines, plus notes about anything lossy.

    A byte-order mark decides the encoding; otherwise UTF-8, and invalid UTF-8
    is decoded with replacement characters and a note rather than refused.
    """
    notes: list[str] = []
    for mark, codec, label in BOMS:
        if data.startswith(mark):
            try:
                text = data[len(mark) :].decode(codec)
            except UnicodeDecodeError:
                text = data[len(mark) :].decode(codec, errors="replace")
                notes.append(
                    f"The file starts with a {label} byte-order mark but is not valid {label}; "
                    "undecodable bytes were replaced with U+FFFD."
                )
            return _unix_newlines(text), notes
    if _looks_binary(data):
        raise ExtractionError(
            "The file looks binary (NUL or control bytes), not text; "
            "rename it if the extension is wrong, or exclude it."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        notes.append(
            f"The file is not valid UTF-8 (first bad byte at offset {exc.start}); undecodable bytes "
            "were replaced with U+FFFD. Re-save it as UTF-8 to keep every character."
        )
    return _unix_newlines(text), notes


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Archive:
    """A .docx/.odt zip read with a cap on the bytes actually inflated.

    The cap counts what decompression really produces while streaming, never
    the sizes the archive's headers claim, so a zip bomb stops at the limit.
    """

    def __init__(self, data: bytes, settings: ExtractionSettings, kind: str) -> None:
        self.kind = kind
        self.budget = settings.max_unpacked_bytes
        self.settings = settings
        if data.startswith(OLE_SIGNATURE):
            raise ExtractionError(
                f"This {kind} file is encrypted or an old binary Word document renamed; "
                f"remove its password or save it as {kind} again."
            )
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            raise self.damaged(f"it is not a readable zip archive ({exc})") from exc

    def damaged(self, what: str) -> ExtractionError:
        return ExtractionError(
            f"This {self.kind} file is damaged or truncated: {what}. Open and re-save it in your word processor."
        )

    def has(self, name: str) -> bool:
        return name in self.zip.namelist()

    def read(self, name: str) -> bytes:
        """One member's bytes, counting against the archive's unpacked-size budget."""
        if not self.has(name):
            raise self.damaged(f"{name} is missing")
        out = bytearray()
        try:
            with self.zip.open(name) as member:
                while chunk := member.read(CHUNK):
                    out += chunk
                    if len(out) > self.budget:
                        raise ExtractionError(
                            f"This {self.kind} file unpacks to more than extraction.max_unpacked_bytes "
                            f"({self.settings.max_unpacked_bytes:,} bytes), which looks like a zip bomb; "
                            "raise that setting if the document is genuine, or exclude it."
                        )
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise self.damaged(f"{name} cannot be unpacked ({exc})") from exc
        self.budget -= len(out)
        return bytes(out)

    def xml(self, name: str) -> ElementTree.Element:
        """A member parsed as XML; document type declarations are refused (no Office part has one)."""
        data = self.read(name)
        if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
            raise self.damaged(f"{name} declares a document type, which Office documents never do")
        try:
            return ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise self.damaged(f"{name} is not well-formed XML ({exc})") from exc
