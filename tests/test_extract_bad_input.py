"""Every kind of bad input ends as an ExtractionError with a one-sentence reason, or as a note.

Nothing here crashes, hangs or returns garbage passages: binary files, byte-order
marks, invalid UTF-8, empty and oversized files, damaged and bomb-like archives,
forbidden, vanished, non-regular and looping paths.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from extract_support import austen, settings, wrap, write_zip

from voiced.extract import Extraction, ExtractionError, FileVanishedError, extract_file

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def reason_for(path: Path, **changes: int) -> str:
    with pytest.raises(ExtractionError) as caught:
        extract_file(path, settings(**changes))
    reason = caught.value.reason
    assert reason == str(caught.value) and reason.endswith(".") and "\n" not in reason
    return reason


def small_docx(text: str) -> bytes:
    body = f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", body)
    return buffer.getvalue()


def test_binary_file_with_a_text_extension(tmp_path: Path) -> None:
    path = tmp_path / "image.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    assert "binary" in reason_for(path)


def test_control_bytes_without_nul_are_binary_too(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(range(1, 32)) * 50 + b"a few real words here")
    assert "binary" in reason_for(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_byte_order_marks_choose_the_encoding(tmp_path: Path, encoding: str) -> None:
    p = austen(2, start=90)
    text = f"# Café society\n\n{wrap(p[0])}\n\n{p[1]} — naïve.\n"
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        data = ("\ufeff" + text).encode(encoding)  # the explicit codecs write no mark of their own
    path = tmp_path / "note.md"
    path.write_bytes(data)
    result = extract_file(path, settings())
    assert result.notes == []
    assert [(x.section, x.text) for x in result.passages] == [
        (("Café society",), p[0]),
        (("Café society",), f"{p[1]} — naïve."),
    ]


def test_windows_newlines_are_paragraph_breaks_like_any_other(tmp_path: Path) -> None:
    p = austen(2, start=95)
    path = tmp_path / "dos.txt"
    path.write_bytes(f"{wrap(p[0])}\n\n{wrap(p[1])}\n".replace("\n", "\r\n").encode())
    assert [x.text for x in extract_file(path, settings()).passages] == p


def test_invalid_utf8_is_decoded_with_replacement_and_a_note(tmp_path: Path) -> None:
    [para] = austen(1, start=100)
    path = tmp_path / "latin1.txt"
    path.write_bytes(f"{para} The café was shut.".encode("latin-1", errors="replace"))
    result = extract_file(path, settings())
    [passage] = result.passages
    assert passage.text == f"{para} The caf\ufffd was shut."
    [note] = result.notes
    assert "not valid UTF-8" in note and "replaced" in note


@pytest.mark.parametrize("content", [b"", b"   \n\n\t\n"])
def test_empty_file_has_no_passages_and_says_so(tmp_path: Path, content: bytes) -> None:
    for name in ("empty.md", "empty.docx"):
        path = tmp_path / name
        path.write_bytes(content)
        assert extract_file(path, settings()) == Extraction([], ["The file is empty."])


def test_file_over_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    path.write_text(" ".join(austen(3)), encoding="utf-8")
    reason = reason_for(path, max_file_bytes=500)
    assert f"{path.stat().st_size:,} bytes" in reason and "extraction.max_file_bytes (500 bytes)" in reason


def test_truncated_docx(tmp_path: Path) -> None:
    data = small_docx(austen(1)[0])
    path = tmp_path / "cut.docx"
    path.write_bytes(data[: len(data) // 2])
    assert "damaged or truncated" in reason_for(path)


def test_docx_without_its_document_part(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "hollow.docx", {"word/styles.xml": "<styles/>"})
    assert "word/document.xml is missing" in reason_for(path)


def test_odt_with_malformed_xml(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "broken.odt", {"content.xml": "<office:document-content><text:p>unclosed"})
    assert "not well-formed XML" in reason_for(path)


def test_docx_with_a_corrupted_compressed_stream(tmp_path: Path) -> None:
    data = bytearray(small_docx(" ".join(austen(2))))
    start = data.index(b"word/document.xml") + len("word/document.xml") + 10
    data[start : start + 40] = bytes(40)  # the deflate stream is garbage; the header is intact
    path = tmp_path / "corrupt.docx"
    path.write_bytes(bytes(data))
    assert "damaged or truncated" in reason_for(path)


def test_document_type_declarations_are_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>'
    )
    path = write_zip(tmp_path / "entities.docx", {"word/document.xml": bomb})
    assert "document type" in reason_for(path)


def test_zip_bomb_stops_at_the_unpacked_cap(tmp_path: Path) -> None:
    filler = b"<!-- " + b"A" * 10_000_000 + b" -->"
    body = f'<w:document xmlns:w="{W_NS}"><w:body>'.encode() + filler + b"</w:body></w:document>"
    path = write_zip(tmp_path / "bomb.docx", {"word/document.xml": body})
    assert path.stat().st_size < 100_000  # ten megabytes squeeze into a few kilobytes
    reason = reason_for(path, max_unpacked_bytes=1_000_000)
    assert "extraction.max_unpacked_bytes (1,000,000 bytes)" in reason and "zip bomb" in reason


def test_unpacked_cap_counts_every_member_read(tmp_path: Path) -> None:
    styles = f'<w:styles xmlns:w="{W_NS}"><!-- {"B" * 600_000} --></w:styles>'
    body = small_docx(" ".join(austen(1)))
    with zipfile.ZipFile(io.BytesIO(body)) as source:
        document = source.read("word/document.xml")
    path = write_zip(tmp_path / "two.docx", {"word/document.xml": document + b" " * 500_000, "word/styles.xml": styles})
    assert "max_unpacked_bytes" in reason_for(path, max_unpacked_bytes=1_000_000)
    assert extract_file(path, settings(max_unpacked_bytes=2_000_000)).passages


def test_permission_denied(tmp_path: Path) -> None:
    """Root reads any file, so under root the read runs in a child stripped of the override capabilities."""
    path = tmp_path / "private.md"
    path.write_text(" ".join(austen(1)), encoding="utf-8")
    os.chmod(path, 0)
    if os.geteuid() != 0:
        assert reason_for(path).startswith("Permission denied")
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, where permissions do not block reads, and setpriv is not installed")
    caps = "-dac_override,-dac_read_search"
    code = (
        "import sys; from pathlib import Path; from voiced.config import ExtractionSettings; "
        "from voiced.extract import ExtractionError, extract_file\n"
        "try:\n    extract_file(Path(sys.argv[1]), ExtractionSettings())\n"
        "except ExtractionError as exc:\n    print(exc.reason)\n"
    )
    child = subprocess.run(
        [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("Permission denied"), child.stdout


def test_vanished_file_is_an_extraction_error_and_a_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "gone.md"
    path.write_text(" ".join(austen(1)), encoding="utf-8")
    path.unlink()
    with pytest.raises(FileVanishedError) as caught:
        extract_file(path, settings())
    assert isinstance(caught.value, ExtractionError) and isinstance(caught.value, FileNotFoundError)
    assert "disappeared" in caught.value.reason


def test_dangling_symlink_reads_as_vanished(tmp_path: Path) -> None:
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "target-that-was-deleted.md")
    assert "disappeared" in reason_for(link)


def test_symlink_loop(tmp_path: Path) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.symlink_to(second)
    second.symlink_to(first)
    assert "symbolic link loop" in reason_for(first)


def test_directory_with_a_supported_extension(tmp_path: Path) -> None:
    folder = tmp_path / "chapter.md"
    folder.mkdir()
    assert "directory" in reason_for(folder)


def test_fifo_with_a_supported_extension_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    assert "not a regular file" in reason_for(fifo)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.7")
    assert "'.pdf'" in reason_for(path)


def test_encrypted_or_legacy_word_file_named_docx(tmp_path: Path) -> None:
    path = tmp_path / "locked.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048))
    assert "encrypted or an old binary Word document" in reason_for(path)
