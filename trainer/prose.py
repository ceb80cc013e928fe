"""The writer's own prose as language-modelling examples: the first stage of a two-stage run.

A rewrite pair teaches the model to map a draft onto the writer's text; plain
language modelling on that text teaches the writer's words and rhythm without
any draft to learn to undo. The examples are the training split's passages
only (never valid or test prose), each document's passages in order, joined
by blank lines, with no chat template: the loss is on every token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voiced.trainer.tokenize import TokenizedExample

MIN_WINDOW_TOKENS = 8  # a document's last window shorter than this teaches almost nothing


def _writer_texts(example: Any) -> list[str]:
    """The writer's own text in an example, in reading order: a rewrite's originals (its drafts are not the
    writer's), or a continuation's opening and what follows (one paragraph cut in two is joined again)."""
    if example.task == "rewrite":
        return list(example.response_parts)
    if len(example.prompt_parts) == 1 and len(example.response_parts) == 1 and example.shape == "paragraph":
        return [f"{example.prompt_parts[0]} {example.response_parts[0]}"]
    return [*example.prompt_parts, *example.response_parts]


def training_documents(examples: Iterable[Any]) -> dict[str, list[str]]:
    """Per document of the training split, its passages in the order the dataset met them, each once."""
    documents: dict[str, list[str]] = {}
    seen: set[str] = set()
    for example in examples:
        if example.split != "train":
            continue
        for text in _writer_texts(example):
            if text not in seen:
                seen.add(text)
                documents.setdefault(example.document, []).append(text)
    return documents


def prose_examples(tokenizer: Any, dataset: Any, max_tokens: int) -> list[TokenizedExample]:
    """Each training document as plain text cut into windows of at most ``max_tokens`` tokens, the labels
    equal to the input ids (nothing masked); the document's last window ends with the end-of-text token."""
    if max_tokens < MIN_WINDOW_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_WINDOW_TOKENS}, not {max_tokens}")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    out: list[TokenizedExample] = []
    for document, passages in sorted(training_documents(dataset.examples.get("train", [])).items()):
        ids = list(tokenizer("\n\n".join(passages), add_special_tokens=False)["input_ids"]) + eos
        for index, start in enumerate(range(0, len(ids), max_tokens)):
            window = ids[start : start + max_tokens]
            if len(window) >= MIN_WINDOW_TOKENS:
                out.append(TokenizedExample(window, list(window), f"prose:{document}:{index}", int(pad or 0)))
    return out
