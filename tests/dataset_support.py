"""Inputs for the dataset tests: real Austen paragraphs as documents of passages, the real tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from data_support import austen_paragraphs


@dataclass(frozen=True)
class Passage:
    section: tuple[str, ...]
    order: int
    text: str
    words: int


@dataclass(frozen=True)
class Document:
    path: str
    passages: list[Passage]


def make_document(path: str, paragraphs: list[str], section: tuple[str, ...] = ("Chapter",)) -> Document:
    return Document(path, [Passage(section, i, t, len(t.split())) for i, t in enumerate(paragraphs)])


def austen_documents(count: int = 24, folder: str = "/notes", novel: str = "persuasion") -> list[Document]:
    """Every third document is a short note of three short paragraphs; the others hold two sections of four."""
    paragraphs = austen_paragraphs(novel)
    short = iter([p for p in paragraphs if len(p.split()) <= 40])
    medium = iter([p for p in paragraphs if 40 < len(p.split()) <= 150])
    docs = []
    for n in range(count):
        path = f"{folder}/chapter-{n:02d}.md"
        if n % 3 == 0:
            docs.append(make_document(path, [next(short) for _ in range(3)]))
        else:
            texts = [next(medium) for _ in range(8)]
            docs.append(
                Document(path, [Passage(("Part", str(i // 4)), i, t, len(t.split())) for i, t in enumerate(texts)])
            )
    return docs


@lru_cache(maxsize=1)
def embedded_tokenizer():
    """The embedded SmolLM2 tokenizer, loaded once (a few seconds)."""
    try:
        from voiced.trainer.base_model import load_tokenizer
    except ImportError:
        from transformers import AutoTokenizer

        from voiced.models import embedded_model_path

        p = embedded_model_path()
        return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    return load_tokenizer("embedded:SmolLM2-135M-Instruct")
