"""Markdown reader benchmark: recall, precision and speed of extraction on Obsidian-style notes.

Each Austen novel in /work/shared/corpora/austen becomes a note whose paragraphs
are interleaved with what a vault holds besides prose: code fences, ``%%``
comments (on a line and over paragraphs), display math, callouts, footnotes,
tables, embeds, and paragraphs with a stray ``$$`` or ``%%`` in them. Recall is
the share of the novel's paragraphs (12 words or more, not longer than a passage)
that come out whole; precision the share of passages that are one of the
novel's paragraphs (or a piece of one split at a sentence end; the stray-sign
paragraph is prose too). The rewrite's chunking is timed on the same notes and must
give them back byte for byte.

    .venv/bin/python bench/bench_markdown.py [--books 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from voiced.config import ExtractionSettings
from voiced.extract import extract_text
from voiced.inference.markdown_chunks import reassemble, split_markdown

AUSTEN = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "austen"
HIDDEN = "a remark the writer keeps out of the text, with enough words in it to pass for prose"
STRAY = "The stray signs: prices rose by 50%% that winter, and the bill came to $$ more than she thought."
NOISE = (
    "```python\ndef volume(reader):  # a code fence with enough words to pass for a line of prose\n"
    "    return 'the favourite volume always opened at this page'\n```",
    f"%% {HIDDEN} %%",
    f"%%\n{HIDDEN}\n\n{HIDDEN}\n%%",
    f"$$\n\\int_0^1 x\\,dx \\quad \\text{{{HIDDEN}}}\n$$",
    f"> [!note] {HIDDEN}",
    f"[^n]: {HIDDEN}",
    "| Name | Note about the person in many words |\n|---|---|\n| Walter | the baronet, vain of his looks |",
    "![[portrait-of-the-family-at-kellynch-hall.png]]",
    STRAY,
)


def novel_paragraphs(book: Path) -> list[str]:
    return [" ".join(b.split()) for b in book.read_text(encoding="utf-8").split("\n\n") if b.strip()]


def as_read(para: str) -> str:
    """The paragraph as a reader sees it: Gutenberg's _italics_ are Markdown emphasis."""
    return para.replace("_", "")


def as_note(paras: list[str]) -> str:
    parts = ["---\ntitle: bench\n---"]
    for index, para in enumerate(paras):
        parts.append(f"## {para}" if len(para.split()) < 4 else para)
        if index % 5 == 4:
            parts.append(NOISE[(index // 5) % len(NOISE)])
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=2, help="how many novels (alphabetical) to read")
    args = parser.parse_args()
    settings = ExtractionSettings()
    books = sorted(AUSTEN.glob("*.txt"))[: args.books]
    wanted = kept = passages = exact = 0
    extract_s = chunk_s = 0.0
    for book in books:
        paras = novel_paragraphs(book)
        note = as_note(paras)
        start = time.process_time()
        texts = [p.text for p in extract_text(note, "markdown", settings).passages]
        extract_s += time.process_time() - start
        start = time.process_time()
        segments = split_markdown(note)
        chunk_s += time.process_time() - start
        assert reassemble(segments, lambda prose: prose) == note, f"{book.name}: chunking is not byte-exact"
        out, source = set(texts), "\n".join([STRAY, *map(as_read, paras)])
        prose = [as_read(p) for p in paras if 12 <= len(p.split()) <= settings.max_passage_words]
        wanted += len(prose)
        kept += sum(1 for p in prose if p in out)
        passages += len(texts)
        exact += sum(1 for t in texts if t in source)
    print(f"{len(books)} novels as Obsidian notes")
    print(f"recall    {kept / wanted:7.2%}  ({kept:,} of {wanted:,} paragraphs of 12+ words kept whole)")
    print(f"precision {exact / passages:7.2%}  ({exact:,} of {passages:,} passages are the novel's paragraphs)")
    print(f"extract   {extract_s:7.2f} s   chunk {chunk_s:7.2f} s (CPU time; chunks byte-exact)")


if __name__ == "__main__":
    main()
