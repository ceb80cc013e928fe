"""Continuous batching for llama.cpp: many requests decoded together, one ``llama_decode`` per step.

Decoding a small model on a CPU is bound by reading the weights, not by arithmetic, so one step that
advances four sequences costs little more than one that advances one. The batcher owns one context
with ``n_parallel`` sequence ids, each with its own ``n_ctx`` cells (the KV cache is not unified, so a
request's cells and its arithmetic are laid out as if it ran alone, and its greedy tokens are the ones
it gets alone). A thread runs the steps: each step's ``llama_batch`` holds the one new token of every
decoding sequence, then chunks of the prompts of sequences that joined, filling ``n_batch``. A request
joins at the next step when a sequence id is free (else it waits its turn), and leaves when it ends its
turn, spends its tokens, is cancelled or abandoned: its cells are freed with ``llama_memory_seq_rm`` and
its id goes to the next request.

The LoRA adapter is set per context in llama.cpp, so every sequence of a batch runs on the same one.
:meth:`Batcher.exclusive` is the swap point: it stops admissions, waits for the batch to drain, and
runs the swap with the context idle; requests that came meanwhile run after it, on the new adapter.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from voiced.inference.generation import EngineError
from voiced.inference.llama_sequence import Sequence, token_piece

log = logging.getLogger("voiced.daemon")

N_BATCH = 512  # tokens per llama_decode: llama-cpp-python's n_batch, so a lone prompt is split as it splits it


class BatcherClosed(EngineError):
    """The model was closed while the request waited or ran."""


class Batcher:
    """One llama.cpp context shared by up to ``n_parallel`` requests, and the thread that decodes them."""

    def __init__(self, model: Any, base_params: Any, *, n_parallel: int, n_ctx: int, name: str = "llama") -> None:
        """``model``: the loaded ``llama_model``; ``base_params``: the context parameters to start from
        (those llama-cpp-python's ``Llama`` used, so threads and attention match it)."""
        import llama_cpp

        params = llama_cpp.llama_context_params.from_buffer_copy(base_params)
        params.n_ctx = n_ctx * n_parallel
        params.n_seq_max = n_parallel
        params.n_batch = params.n_ubatch = N_BATCH
        params.kv_unified = False
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise EngineError(
                f"llama.cpp could not create a context of {n_parallel} x {n_ctx} tokens.",
                fix="Lower `inference.n_parallel` or `inference.n_ctx` in the config (memory).",
            )
        self.n_parallel = n_parallel
        self.n_ctx = int(llama_cpp.llama_n_ctx_seq(self.ctx))  # each sequence's window
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
        self._free_ids = collections.deque(range(n_parallel))
        self._waiting: collections.deque[Sequence] = collections.deque()
        self._active: list[Sequence] = []
        self._cond = threading.Condition()
        self._held = 0  # exclusive() sections waiting or running: nothing is admitted meanwhile
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"voiced-batch-{name}", daemon=True)
        self._thread.start()

    # -- callers' side -----------------------------------------------------

    def submit(self, sequence: Sequence) -> None:
        """Queue a request; it joins the batch at the next step that has a free sequence id."""
        with self._cond:
            if self._closed:
                raise BatcherClosed("The model was closed.", fix="Send the request again.")
            self._waiting.append(sequence)
            self._cond.notify_all()

    @property
    def active(self) -> int:
        return len(self._active)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Any]:
        """Drain the batch and hold new requests back; the body has the idle context to itself."""
        with self._cond:
            self._held += 1
            try:
                while self._active:
                    self._cond.wait()
            except BaseException:
                self._held -= 1
                raise
        try:
            yield self.ctx
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify_all()

    def clear(self) -> None:
        """Forget every cell (after an adapter swap: they were computed with other weights); call it in
        :meth:`exclusive`."""
        import llama_cpp

        llama_cpp.llama_memory_clear(self._memory, True)

    def close(self) -> None:
        """Stop the thread; requests still waiting or running end with :class:`BatcherClosed`."""
        import llama_cpp

        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        closed = BatcherClosed("The model was closed before the request finished.", fix="Send the request again.")
        for sequence in [*self._active, *self._waiting]:
            sequence.finish(closed)
        self._active.clear()
        self._waiting.clear()
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    # -- the decoding thread -----------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._active and (self._held or not self._waiting):
                    self._cond.wait()
                if self._closed:
                    return
                if not self._held:
                    self._admit()
            try:
                self._leave_stopped()
                if self._active:
                    self._step()
            except BaseException as exc:  # noqa: BLE001 - every request in the batch hears of it; the thread lives on
                log.exception("llama.cpp batch step failed")
                for sequence in list(self._active):
                    self._leave(sequence, exc)
            with self._cond:
                self._cond.notify_all()  # exclusive() waits for the batch to drain

    def _admit(self) -> None:
        while self._waiting and self._free_ids:
            sequence = self._waiting.popleft()
            if sequence.stopped():
                sequence.finish()
                continue
            sequence.seq_id = self._free_ids.popleft()
            self._active.append(sequence)

    def _leave_stopped(self) -> None:
        for sequence in [s for s in self._active if s.stopped()]:
            self._leave(sequence)

    def _leave(self, sequence: Sequence, error: BaseException | None = None) -> None:
        """Free the sequence's cells and id; the reader gets the end of its stream (or ``error``)."""
        import llama_cpp

        assert sequence.seq_id is not None, "only admitted sequences leave"
        llama_cpp.llama_memory_seq_rm(self._memory, sequence.seq_id, -1, -1)
        with self._cond:
            self._active.remove(sequence)
            self._free_ids.append(sequence.seq_id)
        sequence.seq_id = None
        sequence.finish(error)

    def _step(self) -> None:
        """One llama_decode: a token for each decoding sequence, then prompt chunks; then sample."""
        import llama_cpp

        batch = self._batch
        batch.n_tokens = 0
        sampled: list[tuple[Sequence, int]] = []

        def add(token: int, sequence: Sequence, logits: bool) -> int:
            i = batch.n_tokens
            batch.token[i] = token
            batch.pos[i] = sequence.n_past
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = sequence.seq_id
            batch.logits[i] = logits
            batch.n_tokens = i + 1
            sequence.n_past += 1
            return i

        for sequence in self._active:
            if sequence.next_token is not None:
                sampled.append((sequence, add(sequence.next_token, sequence, True)))
                sequence.next_token = None
        room = N_BATCH - batch.n_tokens
        for sequence in self._active:
            if room <= 0:
                break
            if sequence.prompt_done:
                continue
            chunk = sequence.prompt_chunk(room)
            room -= len(chunk)
            for j, token in enumerate(chunk):
                last = sequence.prompt_done and j == len(chunk) - 1
                index = add(token, sequence, last)
            if sequence.prompt_done:
                sampled.append((sequence, index))
        code = llama_cpp.llama_decode(self.ctx, batch)
        if code != 0:
            raise EngineError(
                f"llama.cpp could not decode the batch (llama_decode returned {code}).",
                fix="Send the request again; if it keeps failing, lower `inference.n_parallel`.",
            )
        for sequence, index in sampled:
            token = sequence.sample(self.ctx, index)
            ended = llama_cpp.llama_vocab_is_eog(self._vocab, token)
            if ended or sequence.emit(token, token_piece(self._vocab, token)):
                self._leave(sequence)
            else:
                sequence.next_token = token
