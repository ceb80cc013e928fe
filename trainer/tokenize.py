"""Examples as token ids with the base model's own chat template, loss on the response only.

The prompt (system turn, user turn, assistant header) gets label -100; the
response and the end-of-turn token after it are trained, so the model learns
to stop. An example longer than the budget is shortened at a passage
boundary or dropped, never cut inside the response, and both are counted.
Batches are bucketed by length so CPU time is not spent on padding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from voiced.trainer.dataset import Example

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    example_id: str = ""
    pad_id: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class FitReport:
    kept: int = 0
    shortened: int = 0
    dropped: int = 0
    dropped_ids: list[str] = field(default_factory=list)


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenize_example(tokenizer: Any, example: Example) -> TokenizedExample:
    """Prompt and response tokenized apart, so the label boundary is exact; the sequence ends
    with the end-of-turn token (trained)."""
    prompt = _render(tokenizer, example.prompt_messages(), True)
    full = _render(tokenizer, example.messages(), False)
    if not full.startswith(prompt):
        raise ValueError("The base model's chat template renders the prompt differently with and without "
                         "the answer; it cannot be used for response-only training.")
    content = example.response_text
    reply = full[len(prompt):]
    end = reply.find(content)
    if end < 0:
        raise ValueError("The chat template altered the response text; cannot locate it for the labels.")
    end += len(content)
    eos = tokenizer.eos_token or ""
    trained_end = end + len(eos) if eos and reply.startswith(eos, end) else len(reply)
    # What the template adds after the end-of-turn token (a newline) is left out, so the ignored
    # labels are exactly a prefix: mlx-lm can only leave out a prompt prefix from the loss.
    prompt_ids = _ids(tokenizer, prompt + reply[:end - len(content)])
    trained_ids = _ids(tokenizer, reply[end - len(content):trained_end])
    input_ids = prompt_ids + trained_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + trained_ids
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return TokenizedExample(input_ids, labels, example.id, int(pad or 0))


def fit_example(tokenizer: Any, example: Example, max_tokens: int) -> tuple[TokenizedExample | None, int]:
    """The example within ``max_tokens``, dropping trailing passages if needed; (None, 0) if it cannot fit.
    The second value is how many response parts were dropped."""
    parts = len(example.response_parts)
    for keep in range(parts, 0, -1):
        candidate = example if keep == parts else example.shortened(keep)
        tokens = tokenize_example(tokenizer, candidate)
        if len(tokens) <= max_tokens:
            return tokens, parts - keep
    return None, 0


def tokenize_examples(tokenizer: Any, examples: Sequence[Example], max_tokens: int) -> tuple[list[TokenizedExample], FitReport]:
    """Every example that fits (shortened where possible) and the count of what was shortened or dropped."""
    out: list[TokenizedExample] = []
    report = FitReport()
    for example in examples:
        tokens, removed = fit_example(tokenizer, example, max_tokens)
        if tokens is None:
            report.dropped += 1
            report.dropped_ids.append(example.id)
            continue
        out.append(tokens)
        report.kept += 1
        report.shortened += removed > 0
    return out, report


def tokenize_dataset(tokenizer: Any, dataset: Any, max_tokens: int) -> dict[str, tuple[list[TokenizedExample], FitReport]]:
    """Every split of a :class:`~voiced.trainer.dataset.Dataset`, fitted to ``max_tokens``."""
    return {split: tokenize_examples(tokenizer, rows, max_tokens) for split, rows in dataset.examples.items()}


# -- batching ----------------------------------------------------------------

def _get(example: Any, name: str) -> list[int]:
    return list(example[name] if isinstance(example, dict) else getattr(example, name))


def pad_batch(examples: Sequence[Any], pad_id: int | None = None) -> dict[str, list[list[int]]]:
    """Right-pad to the longest example; padding has attention 0 and label -100."""
    if pad_id is None:
        first = examples[0]
        pad_id = int(first.get("pad_id", 0) if isinstance(first, dict) else getattr(first, "pad_id", 0))
    width = max(len(_get(ex, "input_ids")) for ex in examples)
    batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
    for ex in examples:
        ids, labels = _get(ex, "input_ids"), _get(ex, "labels")
        gap = width - len(ids)
        batch["input_ids"].append(ids + [pad_id] * gap)
        batch["labels"].append(labels + [IGNORE_INDEX] * gap)
        batch["attention_mask"].append([1] * len(ids) + [0] * gap)
    return batch


def make_batches(tokenized: Sequence[Any], batch_size: int, *, bucketing: bool, seed: int,
                 pad_id: int | None = None, chunk_batches: int = 16) -> list[dict[str, list[list[int]]]]:
    """One epoch of padded batches (dicts of input_ids, labels, attention_mask as lists).

    With ``bucketing``, the shuffled examples are cut into chunks of
    ``chunk_batches`` batches, each chunk is sorted by length before it is cut
    into batches, and the batch order is shuffled: similar lengths share a
    batch while every epoch still differs.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rng = random.Random(seed)
    order = list(range(len(tokenized)))
    rng.shuffle(order)
    groups: list[list[int]] = []
    if bucketing:
        chunk = batch_size * max(1, chunk_batches)
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk], key=lambda i: len(_get(tokenized[i], "input_ids")))
            groups.extend(part[j:j + batch_size] for j in range(0, len(part), batch_size))
        rng.shuffle(groups)
    else:
        groups = [order[j:j + batch_size] for j in range(0, len(order), batch_size)]
    return [pad_batch([tokenized[i] for i in group], pad_id) for group in groups]


def padding_efficiency(batches: Sequence[dict[str, list[list[int]]]]) -> float:
    """Real tokens / padded tokens over the batches (1.0 means no padding)."""
    real = sum(sum(row) for batch in batches for row in batch["attention_mask"])
    total = sum(len(row) for batch in batches for row in batch["attention_mask"])
    return real / total if total else 1.0
