"""One request inside llama.cpp's batch: its prompt, its sampler, its anchor and its output queue.

The batch scheduler (voiced.inference.llama_batcher) decodes many of these in one context; everything
that belongs to a single request lives here, so requests never share sampling state. Sampling is the
chain llama-cpp-python's ``Llama._init_sampler`` builds (penalties over the last 64 tokens, then greedy,
or top-k, typical, top-p, min-p 0.05, temperature and a seeded draw), so one request decodes the same
tokens as ``create_chat_completion`` would. Text leaves as UTF-8-safe pieces: an incremental decoder
holds back the bytes of a character split across tokens. Pieces go to the request's own queue, so a
slow reader never holds up the scheduler or the other requests.
"""

from __future__ import annotations

import codecs
import ctypes
import queue
import threading
from collections.abc import Sequence as Tokens
from typing import Any

from voiced.inference.draft_anchor import DraftAnchor
from voiced.inference.generation import GenerationParams

PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size: what repeat_penalty looks back over
MIN_P = 0.05  # create_chat_completion's default, kept so sampling matches it
TYPICAL_P = 1.0
FINISHED = object()  # put on the queue when the sequence is done (then nothing more comes)


class Sequence:
    """A request's state while it is in the batch; the scheduler thread alone touches the sampler."""

    def __init__(
        self,
        prompt: Tokens[int],
        params: GenerationParams,
        max_tokens: int,
        cancel: threading.Event,
        *,
        n_vocab: int,
        anchor: DraftAnchor | None = None,
        stop: Tokens[str] = (),
    ) -> None:
        """``stop``: texts that end the reply where they appear (the chat format's end-of-turn text, as
        create_chat_completion stops on it), themselves left out."""
        self.prompt = list(prompt)
        self.stop = tuple(s for s in stop if s)
        self._held = ""  # text that may be the start of a stop text: sent once it is not
        self._stopped_by_text = False
        self.params = params
        self.max_tokens = max_tokens
        self.cancel = cancel
        self.anchor = anchor
        self.n_vocab = n_vocab
        self.out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.abandoned = threading.Event()  # the reader walked away: leave the batch at the next step
        self.seq_id: int | None = None  # the batch's sequence id while admitted
        self.fed = 0  # prompt tokens already decoded
        self.n_past = 0  # tokens in the sequence's cells: the position of the next one fed
        self.next_token: int | None = None  # sampled, to be decoded at the next step
        self.generated = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._sampler: Any = None

    # -- the scheduler's side ----------------------------------------------

    def stopped(self) -> bool:
        return self.abandoned.is_set() or self.cancel.is_set()

    def prompt_chunk(self, room: int) -> list[int]:
        """Up to ``room`` prompt tokens not decoded yet (marked decoded)."""
        chunk = self.prompt[self.fed : self.fed + room]
        self.fed += len(chunk)
        return chunk

    @property
    def prompt_done(self) -> bool:
        return self.fed >= len(self.prompt)

    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits at ``index`` of the last batch, anchored when asked."""
        import llama_cpp
        import numpy as np

        if self.anchor is not None:
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, index), shape=(self.n_vocab,))
            for token, bonus in self.anchor.bonuses().items():
                logits[token] += bonus
        token = int(llama_cpp.llama_sampler_sample(self._chain(), ctx, index))
        if self.anchor is not None:
            self.anchor.observe(token)
        return token

    def emit(self, token: int, piece: bytes) -> bool:
        """Queue the text of a token that is not an end of turn; True when the length budget is spent."""
        self.generated += 1
        if self._send(self._decoder.decode(piece)):
            self.max_tokens = self.generated  # a stop text: the reply ends here
        return self.generated >= self.max_tokens

    def _send(self, text: str) -> bool:
        """Queue ``text`` up to a stop text (True when one was found), holding back a possible start of one."""
        if self._stopped_by_text:
            return True
        text = self._held + text
        self._held = ""
        for stop in self.stop:
            if stop in text:
                text = text[: text.index(stop)]
                if text:
                    self.out.put(text)
                self._stopped_by_text = True
                return True
        hold = max((n for stop in self.stop for n in range(1, len(stop)) if text.endswith(stop[:n])), default=0)
        text, self._held = text[: len(text) - hold], text[len(text) - hold :]
        if text:
            self.out.put(text)
        return False

    def finish(self, error: BaseException | None = None) -> None:
        """Flush what the decoder holds, then tell the reader nothing more comes."""
        tail = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        if tail and error is None and not self._stopped_by_text:
            self.out.put(tail)
        self.out.put(error if error is not None else FINISHED)
        self.close()

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.close()
            self._sampler = None

    def _chain(self) -> Any:
        if self._sampler is None:
            self._sampler = _sampler_chain(self.params, self.n_vocab)
        return self._sampler.sampler


def _sampler_chain(params: GenerationParams, n_vocab: int) -> Any:
    """llama-cpp-python's sampler chain for these parameters (see ``Llama._init_sampler``)."""
    from llama_cpp import _internals

    assert params.temperature is not None and params.top_k is not None and params.top_p is not None
    assert params.repeat_penalty is not None and params.seed is not None  # resolved params
    chain = _internals.LlamaSampler()
    chain.add_penalties(
        n_vocab=n_vocab,
        penalty_last_n=PENALTY_LAST_N,
        penalty_repeat=params.repeat_penalty,
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    if params.temperature == 0:
        chain.add_greedy()
    else:
        chain.add_top_k(params.top_k)
        chain.add_typical(TYPICAL_P, 1)
        chain.add_top_p(params.top_p, 1)
        chain.add_min_p(MIN_P, 1)
        chain.add_temp(params.temperature)
        chain.add_dist(params.seed)
    return chain


def token_piece(vocab: Any, token: int) -> bytes:
    """The bytes of one token as text (special tokens render as nothing), as llama-cpp-python detokenizes."""
    import llama_cpp

    size = 32
    while True:
        buffer = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)
        if n >= 0:
            return buffer.raw[:n]
        size = -n
