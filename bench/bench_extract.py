"""Extraction benchmark: words per second for each format, beside the bare cost of finding paragraphs.

Each Austen novel in /work/shared/corpora/austen is written once per format
(Markdown note, plain text, rst, Org, LaTeX, .docx, .odt) into a temp folder;
each file is then extracted with the default settings. The reference in the
same run is reading the plain-text file and splitting it at blank lines, with
no filtering: what any extractor must pay at least.

    .venv/bin/python bench/bench_extract.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from voiced.config import ExtractionSettings
from voiced.extract import extract_file

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def paragraphs(book: Path) -> list[str]:
    return [" ".join(b.split()) for b in book.read_text(encoding="utf-8").split("\n\n") if b.strip()]


def as_markdown(paras: list[str]) -> str:
    return "---\ntitle: bench\n---\n" + "\n\n".join(f"## {p}" if len(p.split()) < 4 else p for p in paras)


def as_rst(paras: list[str]) -> str:
    return "\n\n".join(f"{p}\n{'=' * len(p)}" if len(p.split()) < 4 else p for p in paras)


def as_org(paras: list[str]) -> str:
    return "\n\n".join(f"* {p}" if len(p.split()) < 4 else p for p in paras)


def as_latex(paras: list[str]) -> str:
    body = "\n\n".join(
        f"\\section{{{p}}}" if len(p.split()) < 4 else p.replace("%", "\\%").replace("&", "\\&") for p in paras
    )
    return f"\\documentclass{{book}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"


def as_docx(paras: list[str]) -> bytes:
    runs = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paras)
    return _zip("word/document.xml", f'<w:document xmlns:w="{W_NS}"><w:body>{runs}</w:body></w:document>')


def as_odt(paras: list[str]) -> bytes:
    text = "".join(f"<text:p>{escape(p)}</text:p>" for p in paras)
    return _zip(
        "content.xml",
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
        'office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
        f"<office:body><office:text>{text}</office:text></office:body>"
        "</office:document-content>",
    )


def _zip(name: str, xml: str) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, xml)
    return buffer.getvalue()


WRITERS: dict[str, tuple[str, Callable[[list[str]], str | bytes]]] = {
    "markdown": (".md", as_markdown),
    "rst": (".rst", as_rst),
    "org": (".org", as_org),
    "latex": (".tex", as_latex),
    "docx": (".docx", as_docx),
    "odt": (".odt", as_odt),
}


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = ExtractionSettings()
    books = sorted(AUSTEN.glob("*.txt"))
    words = sum(len(book.read_text(encoding="utf-8").split()) for book in books)
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, list[Path]] = {"text": books}
        for fmt, (suffix, write) in WRITERS.items():
            files[fmt] = []
            for book in books:
                path = Path(tmp) / f"{book.stem}{suffix}"
                content = write(paragraphs(book))
                path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
                files[fmt].append(path)

        def reference() -> None:
            for book in books:
                [b for b in book.read_bytes().decode("utf-8").split("\n\n") if b.strip()]

        ref = best_of(args.repeat, reference)
        print(f"{len(books)} Austen novels, {words:,} words; best of {args.repeat}")
        print(f"{'reference: read + split at blank lines':<40} {ref:7.3f} s {words / ref / 1e6:8.2f} M words/s")
        for fmt, paths in files.items():
            seconds = best_of(args.repeat, lambda paths=paths: [extract_file(p, settings) for p in paths])
            print(
                f"{'extract ' + fmt:<40} {seconds:7.3f} s {words / seconds / 1e6:8.2f} M words/s "
                f"({seconds / ref:5.1f}x reference)"
            )
    print(f"median novel: {statistics.median(len(b.read_text().split()) for b in books):,.0f} words")


if __name__ == "__main__":
    main()
