"""Examples as token ids with the base model's own chat template, loss on the response only.

The prompt (system turn, user turn, assistant header) gets label -100; the
response and the end-of-turn token after it are trained, so the model learns
to stop. An example longer than the budget is shortened at a passage
boundary or dropped, never cut inside the response, and both are counted.

Batches come in three shapes (``TrainingSettings.batching``) so CPU time is
not spent on padding: "pad" (shuffled, padded to the longest in the batch),
"bucket" (similar lengths share a batch) and "pack" (several examples share
one row; their attention and positions stay apart, see :func:`pack_batch`).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voiced.prompts import turn_end

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
        raise ValueError(
            "The base model's chat template renders the prompt differently with and without "
            "the answer; it cannot be used for response-only training."
        )
    content = example.response_text
    reply = full[len(prompt) :]
    end = reply.find(content)
    if end < 0:
        raise ValueError("The chat template altered the response text; cannot locate it for the labels.")
    end += len(content)
    eos = turn_end(tokenizer.chat_template, tokenizer.eos_token or "")
    trained_end = end + len(eos) if eos and reply.startswith(eos, end) else len(reply)
    # What the template adds after the end-of-turn token (a newline) is left out, so the ignored
    # labels are exactly a prefix: mlx-lm can only leave out a prompt prefix from the loss.
    prompt_ids = _ids(tokenizer, prompt + reply[: end - len(content)])
    trained_ids = _ids(tokenizer, reply[end - len(content) : trained_end])
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


def tokenize_examples(
    tokenizer: Any, examples: Sequence[Example], max_tokens: int
) -> tuple[list[TokenizedExample], FitReport]:
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


def tokenize_dataset(
    tokenizer: Any, dataset: Any, max_tokens: int
) -> dict[str, tuple[list[TokenizedExample], FitReport]]:
    """Every split of a :class:`~voiced.trainer.dataset.Dataset`, fitted to ``max_tokens``."""
    return {split: tokenize_examples(tokenizer, rows, max_tokens) for split, rows in dataset.examples.items()}


# -- batching ----------------------------------------------------------------


def example_field(example: Any, name: str) -> list[int]:
    """A tokenized example's ``input_ids`` / ``labels``, whether it is a dict or a TokenizedExample."""
    return list(example[name] if isinstance(example, dict) else getattr(example, name))


def pad_batch(examples: Sequence[Any], pad_id: int | None = None) -> dict[str, list[list[int]]]:
    """Right-pad to the longest example; padding has attention 0 and label -100."""
    if pad_id is None:
        first = examples[0]
        pad_id = int(first.get("pad_id", 0) if isinstance(first, dict) else getattr(first, "pad_id", 0))
    width = max(len(example_field(ex, "input_ids")) for ex in examples)
    batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
    for ex in examples:
        ids, labels = example_field(ex, "input_ids"), example_field(ex, "labels")
        gap = width - len(ids)
        batch["input_ids"].append(ids + [pad_id] * gap)
        batch["labels"].append(labels + [IGNORE_INDEX] * gap)
        batch["attention_mask"].append([1] * len(ids) + [0] * gap)
    return batch


def batch_groups(
    lengths: Sequence[int], batch_size: int, *, bucketing: bool, seed: int, chunk_batches: int = 16
) -> list[list[int]]:
    """One epoch's batches as lists of indices into ``lengths``.

    With ``bucketing``, the shuffled indices are cut into chunks of
    ``chunk_batches`` batches, each chunk is sorted by length before it is cut
    into batches, and the batch order is shuffled: similar lengths share a
    batch while every epoch still differs.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not bucketing:
        return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]
    groups: list[list[int]] = []
    chunk = batch_size * max(1, chunk_batches)
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        groups.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(groups)
    return groups


def make_batches(
    tokenized: Sequence[Any],
    batch_size: int,
    *,
    bucketing: bool,
    seed: int,
    pad_id: int | None = None,
    chunk_batches: int = 16,
) -> list[dict[str, list[list[int]]]]:
    """One epoch of padded batches (dicts of input_ids, labels, attention_mask as lists), grouped by
    :func:`batch_groups` (similar lengths together with ``bucketing``)."""
    lengths = [len(example_field(ex, "input_ids")) for ex in tokenized]
    groups = batch_groups(lengths, batch_size, bucketing=bucketing, seed=seed, chunk_batches=chunk_batches)
    return [pad_batch([tokenized[i] for i in group], pad_id) for group in groups]


def pack_plan(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of the examples in each packed row: best-fit decreasing into rows of ``budget`` tokens.

    Deterministic: longest first (ties by index), each into the row with the
    least room that still fits it (ties by the older row), else a new row.
    An example is never split; one longer than ``budget`` raises. O(n log n)
    lookups, so a novel-sized dataset packs in well under a second.
    """
    if budget < 1:
        raise ValueError("the packing budget must be at least one token")
    rows: list[list[int]] = []
    room: list[tuple[int, int]] = []  # (free tokens, row), sorted
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        size = lengths[index]
        if size > budget:
            raise ValueError(f"example {index} has {size} tokens, more than the packing budget of {budget}")
        at = bisect.bisect_left(room, (size, -1))
        if at < len(room):
            free, row = room.pop(at)
        else:
            free, row = budget, len(rows)
            rows.append([])
        rows[row].append(index)
        bisect.insort(room, (free - size, row))
    return rows


def pack_batch(rows: Sequence[Sequence[Any]], pad_id: int | None = None) -> dict[str, list[list[int]]]:
    """Rows of concatenated examples, right-padded to the longest row.

    ``position_ids`` restart at 0 with every example, which is how transformers
    recognises packed rows: given position ids and no attention mask, it builds
    a block-diagonal causal mask, so no token attends across an example
    boundary. Each example's first label is -100, so no example is trained to
    predict the start of the next. Padding is a block of its own (positions
    from 0, label -100). ``attention_mask`` marks the real tokens for counting
    only; :func:`model_inputs` keeps it away from the model.
    """
    if pad_id is None:
        first = rows[0][0]
        pad_id = int(first.get("pad_id", 0) if isinstance(first, dict) else getattr(first, "pad_id", 0))
    flat = []
    for row in rows:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for ex in row:
            ex_ids, ex_labels = example_field(ex, "input_ids"), example_field(ex, "labels")
            ids += ex_ids
            labels += [IGNORE_INDEX] + ex_labels[1:]
            positions += range(len(ex_ids))
        flat.append((ids, labels, positions))
    width = max(len(ids) for ids, _, _ in flat)
    batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "position_ids": [], "attention_mask": []}
    for ids, labels, positions in flat:
        gap = width - len(ids)
        batch["input_ids"].append(ids + [pad_id] * gap)
        batch["labels"].append(labels + [IGNORE_INDEX] * gap)
        batch["position_ids"].append(positions + list(range(gap)))
        batch["attention_mask"].append([1] * len(ids) + [0] * gap)
    return batch


def make_packed_batches(
    tokenized: Sequence[Any], batch_size: int, *, seed: int, budget: int | None = None, pad_id: int | None = None
) -> list[dict[str, list[list[int]]]]:
    """One epoch of packed batches: ``batch_size`` rows of up to ``budget`` tokens each.

    The budget defaults to the longest example, so a packed step never holds
    more tokens than the fullest padded batch could. The plan is the same
    every epoch; the ``seed`` decides which rows share a step, rows of similar
    length together (as :func:`batch_groups` buckets), because a row that
    holds one long example can have room left that no short example filled.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    lengths = [len(example_field(ex, "input_ids")) for ex in tokenized]
    if not lengths:
        return []
    plan = pack_plan(lengths, budget or max(lengths))
    filled = [sum(lengths[i] for i in row) for row in plan]
    return [
        pack_batch([[tokenized[i] for i in plan[r]] for r in group], pad_id)
        for group in batch_groups(filled, batch_size, bucketing=True, seed=seed)
    ]


def packed_rows(tokenized: Sequence[Any], budget: int | None = None) -> int:
    """How many rows :func:`make_packed_batches` packs these examples into."""
    lengths = [len(example_field(ex, "input_ids")) for ex in tokenized]
    return len(pack_plan(lengths, budget or max(lengths))) if lengths else 0


def epoch_batches(
    tokenized: Sequence[Any], batch_size: int, batching: str, *, seed: int, pad_id: int | None = None
) -> list[dict[str, list[list[int]]]]:
    """One epoch of batches in the configured shape: "pack", "bucket" or "pad"."""
    if batching == "pack":
        return make_packed_batches(tokenized, batch_size, seed=seed, pad_id=pad_id)
    if batching in ("bucket", "pad"):
        return make_batches(tokenized, batch_size, bucketing=batching == "bucket", seed=seed, pad_id=pad_id)
    raise ValueError(f"unknown batching {batching!r}; use pack, bucket or pad")


def rows_per_epoch(tokenized: Sequence[Any], batching: str) -> int:
    """Rows an epoch holds (examples, or packed rows), from which the steps are counted."""
    return packed_rows(tokenized) if batching == "pack" else len(tokenized)


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the model's forward for a batch.

    A packed batch (one with ``position_ids``) goes without its attention
    mask, and nothing asks for a KV cache: transformers builds the
    per-example causal mask from the positions only when there is neither an
    attention mask nor a cache (and training never needs a cache).
    """
    names = (
        ("input_ids", "labels", "position_ids")
        if "position_ids" in batch
        else ("input_ids", "labels", "attention_mask")
    )
    return {**{name: batch[name] for name in names}, "use_cache": False}


def real_tokens(batch: dict[str, Any]) -> int:
    """Tokens in the batch that are not padding."""
    return int(sum(sum(row) for row in batch["attention_mask"]))


def padding_efficiency(batches: Sequence[dict[str, list[list[int]]]]) -> float:
    """Real tokens / padded tokens over the batches (1.0 means no padding)."""
    real = sum(sum(row) for batch in batches for row in batch["attention_mask"])
    total = sum(len(row) for batch in batches for row in batch["attention_mask"])
    return real / total if total else 1.0
