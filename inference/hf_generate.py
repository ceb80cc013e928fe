"""One streamed reply from transformers' own ``generate``, for the transformers backend.

``generate`` runs on a thread of its own and hands its tokens to a ``TextIteratorStreamer``, which the
caller reads as text. A stopping criterion ends it at the next token once the engine's stop event is set
(the caller cancelled, or the client went away) or the reader stops reading; the reader then joins the
thread, so no generation outlives its request. Sampling is the library's: greedy at temperature 0,
else temperature, top-k and top-p; the repetition penalty counts generated tokens only, as it always has
here (transformers' own would also penalise the prompt, which for a rewrite is the text to keep).

Imported by the backend when it loads a model: this module imports torch and transformers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from voiced.inference.draft_anchor import DraftAnchor
from voiced.inference.generation import GenerationParams

THREAD_NAME = "voiced-hf-generate"


class StopWhenSet(StoppingCriteria):
    """Ends generation after the current token once any of ``events`` is set."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = any(event.is_set() for event in self.events)
        return cast(
            torch.BoolTensor, torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)
        )


def generate_kwargs(
    prompt_ids: list[int],
    params: GenerationParams,
    max_tokens: int,
    *,
    end_ids: Sequence[int],
    pad_id: int,
    stop: Sequence[str] = (),
) -> dict[str, Any]:
    """The arguments of ``model.generate`` for one request, every one stated (the model's own generation
    config fills none of them), and with the attention mask and pad id that keep generate from warning."""
    inputs = torch.tensor([prompt_ids])
    kwargs: dict[str, Any] = {
        "input_ids": inputs,
        "attention_mask": torch.ones_like(inputs),
        "max_new_tokens": max_tokens,
        "eos_token_id": list(end_ids),
        "pad_token_id": pad_id,
        "repetition_penalty": 1.0,  # applied below, to the generated tokens only
        "num_beams": 1,
    }
    if params.temperature == 0:
        kwargs["do_sample"] = False
    else:
        kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
    penalty = params.repeat_penalty
    if penalty is not None and penalty != 1.0:
        kwargs["logits_processor"] = LogitsProcessorList(
            [RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=len(prompt_ids))]
        )
    if stop:
        kwargs["stop_strings"] = list(stop)
    return kwargs


class AnchorLogitsProcessor(LogitsProcessor):
    """Anchored decoding (voiced.inference.draft_anchor) for ``generate``: one sequence, the prompt's
    ``prompt_length`` tokens first."""

    def __init__(self, anchor: DraftAnchor, prompt_length: int) -> None:
        self.anchor = anchor
        self.prompt_length = prompt_length
        self.observed = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        reply = input_ids[0, self.prompt_length :].tolist()
        self.anchor.observe_all(reply[self.observed :])
        self.observed = len(reply)
        for token, bonus in self.anchor.bonuses().items():
            if token < scores.shape[-1]:
                scores[:, token] += bonus
        return scores


def add_anchor(kwargs: dict[str, Any], draft_ids: Sequence[int], strength: float, end_ids: Sequence[int]) -> None:
    """Anchor the generation ``kwargs`` describe to ``draft_ids`` (applied after the repetition penalty)."""
    prompt_length = int(kwargs["input_ids"].shape[1])
    processors = kwargs.setdefault("logits_processor", LogitsProcessorList())
    processors.append(AnchorLogitsProcessor(DraftAnchor(draft_ids, strength, end_ids), prompt_length))


def stream_generate(
    model: Any,
    tokenizer: Any,
    kwargs: dict[str, Any],
    cancel: threading.Event,
    *,
    seed: int | None,
    stop: Sequence[str] = (),
) -> Iterator[str]:
    """Text pieces of ``model.generate(**kwargs)`` as they are decoded, without the stop strings and what
    follows them; nothing more once ``cancel`` is set. Closing the iterator stops the generation, and
    returning (or raising) waits for its thread to end."""
    if cancel.is_set():
        return
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    walked_away = threading.Event()
    failure: list[BaseException] = []
    criteria = StoppingCriteriaList([StopWhenSet(cancel, walked_away)])
    extra = {"tokenizer": tokenizer} if stop else {}  # generate needs it to match the stop strings

    def run() -> None:
        try:
            if seed is not None:  # resolved parameters always have one
                torch.manual_seed(seed)  # generate samples from torch's global generator
            model.generate(**kwargs, **extra, streamer=streamer, stopping_criteria=criteria)
        except BaseException as exc:  # noqa: BLE001 - raised again on the reader's thread
            failure.append(exc)
            streamer.end()  # the reader is waiting for the end of the stream

    thread = threading.Thread(target=run, name=THREAD_NAME, daemon=True)
    thread.start()
    try:
        for piece in until_stop_string(streamer, stop):
            if cancel.is_set():
                return
            yield piece
    finally:
        walked_away.set()
        thread.join()
    if failure:
        raise failure[0]


def until_stop_string(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """The non-empty pieces up to the first stop string, which is left out. Text that could be the start
    of a stop string is held back until the next piece shows whether it is."""
    pending = ""
    for piece in pieces:
        pending += piece
        found = [index for index in (pending.find(s) for s in stop) if index >= 0]
        if found:
            if min(found):
                yield pending[: min(found)]
            return
        keep = max((_prefix_overlap(pending, s) for s in stop), default=0)
        if len(pending) > keep:
            yield pending[: len(pending) - keep]
            pending = pending[len(pending) - keep :]
    if pending:
        yield pending


def _prefix_overlap(text: str, stop: str) -> int:
    """The length of the longest end of ``text`` that begins ``stop`` (and is shorter than it)."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0
