"""How the shipped reference profiles are cut from the public-domain corpora, and where held-out text starts.

Each author's profile is an excerpt of about ``AUTHOR_CHARS`` characters, taken
in evenly spaced runs of whole paragraphs from the first ``EXCERPT_END`` of
each of their books (shared equally between the books), so a profile covers
every book and the last part of every book stays unseen: attribution is
measured on passages from after ``HELD_OUT_START``.

    .venv/bin/python -m voiced.evaluation.reference_build ../shared/corpora
"""

from __future__ import annotations

import sys
from pathlib import Path

AUTHORS = {  # profile name -> folder of the shared corpora
    "austen": "austen",
    "anne-bronte": "anne",
    "emily-bronte": "emily",
}
AUTHOR_CHARS = 100_000
EXCERPT_START, EXCERPT_END = 0.05, 0.65  # share of a book's paragraphs the excerpts come from
HELD_OUT_START = 0.7  # attribution is measured on paragraphs after this share
RUNS_PER_BOOK = 12  # evenly spaced runs of consecutive paragraphs


def book_paragraphs(text: str, min_words: int = 5) -> list[str]:
    """Prose paragraphs, each on one line; headings ("CHAPTER IV") and very short lines left out."""
    paragraphs = [" ".join(block.split()) for block in text.split("\n\n")]
    return [p for p in paragraphs if len(p.split()) >= min_words and not p.isupper()]


def held_out_paragraphs(text: str) -> list[str]:
    """The part of a book no excerpt comes from."""
    paragraphs = book_paragraphs(text)
    return paragraphs[int(len(paragraphs) * HELD_OUT_START) :]


def excerpt(text: str, chars: int, runs: int = RUNS_PER_BOOK) -> str:
    """About ``chars`` characters of whole paragraphs in ``runs`` runs spread over the excerpt region."""
    paragraphs = book_paragraphs(text)
    start, end = int(len(paragraphs) * EXCERPT_START), int(len(paragraphs) * EXCERPT_END)
    step = (end - start) / runs
    chosen: list[str] = []
    for run in range(runs):
        index, budget = start + int(run * step), chars / runs
        while budget > 0 and index < end:
            chosen.append(paragraphs[index])
            budget -= len(paragraphs[index]) + 2
            index += 1
    return "\n\n".join(chosen)


def author_excerpt(folder: Path) -> str:
    books = sorted(folder.glob("*.txt"))
    return "\n\n".join(excerpt(book.read_text(encoding="utf-8"), AUTHOR_CHARS // len(books)) for book in books)


def main(argv: list[str]) -> int:
    corpora = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "shared" / "corpora"
    out = Path(__file__).resolve().parents[1] / "voiced" / "reference"
    out.mkdir(exist_ok=True)
    for name, folder in AUTHORS.items():
        (out / f"{name}.txt").write_text(author_excerpt(corpora / folder) + "\n", encoding="utf-8")
        print(f"{name}: {(out / f'{name}.txt').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
