"""GGUF bases through llama-cpp-python, with the LoRA adapter swapped in place.

The model is opened by ``voiced.inference.llama_runtime.open_llama`` (which keeps
llama.cpp off the AMX path that crashes on some CPUs); requests are decoded together in
one context by ``voiced.inference.llama_batcher``, with prompts rendered by
``voiced.inference.llama_prompt``. Adapters are managed
here through llama.cpp's adapter API rather than ``Llama(lora_path=...)``,
which binds one adapter for the object's whole life: a swap loads the new
adapter (``llama_adapter_lora_init``), sets it on the context
(``llama_set_adapters_lora``), clears the KV cache (``llama_memory_clear``)
and only then frees the old one (``llama_adapter_lora_free``), so the base
weights are never reloaded. The adapter belongs to the whole context: a swap waits
for the batch to drain.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from pathlib import Path

from voiced.inference.generation import EngineError, GenerationParams, ModelLoadError


def _runtime():
    """The shared, torch-free loader module (imported lazily: llama_cpp loads a native library)."""
    from voiced.inference import llama_runtime

    return llama_runtime


class LlamaBackend:
    """One GGUF base loaded once; one LoRA adapter (or none) active at a time; up to ``n_parallel``
    requests decoded together (voiced.inference.llama_batcher)."""

    kind = runtime = "llama.cpp"  # the registry's name for what this backend loads: a version's GGUF LoRA

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int | None, n_parallel: int = 1) -> None:
        """``n_ctx``: each request's context window; ``n_parallel``: requests decoded together."""
        from voiced.inference.llama_batcher import N_BATCH, Batcher
        from voiced.inference.llama_prompt import ChatPrompt

        self.base_path = Path(model_path)
        self.adapter_path: Path | None = None
        self._adapter = None  # llama_adapter_lora_p owned by this backend
        loader = _runtime()
        try:
            # The Llama object tokenizes and holds the weights; its own context stays small and idle.
            self.llm = loader.open_llama(model_path, n_ctx=N_BATCH, n_threads=n_threads)
            self._prompt = ChatPrompt(self.llm)
            self.batcher = Batcher(
                self.llm._model.model,
                self.llm.context_params,
                n_parallel=n_parallel,
                n_ctx=n_ctx,
                name=self.base_path.stem,
            )
        except (loader.LlamaLoadError, ValueError, RuntimeError, OSError, EngineError) as exc:
            if hasattr(self, "llm"):
                self.llm.close()
            raise ModelLoadError(
                f"llama.cpp could not load the base model {model_path}: {exc}",
                fix="Check that the file is a complete GGUF model (re-download or re-export it), "
                "or set `base_model` of the voice to another model.",
            ) from exc
        self.parallel = n_parallel  # the engine runs this many requests at once
        self.n_ctx = self.batcher.n_ctx

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the formatted prompt (the chat template adds a few per turn)."""
        return sum(self.count_tokens(m.get("content", "")) + 8 for m in messages) + 8

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        max_tokens: int,
        cancel: threading.Event,
        *,
        anchor_text: str | None = None,
    ) -> Iterator[str]:
        """Pieces of the reply as llama.cpp decodes them, formatted by the GGUF's own chat template
        and stopping at its end-of-turn token; checks ``cancel`` between tokens. With ``anchor_text`` and
        a ``draft_anchor`` strength, decoding is anchored to that text (voiced.inference.draft_anchor).
        The request joins the running batch at its next step and leaves it when done, cancelled, or
        when this generator is closed."""
        from voiced.inference.llama_sequence import FINISHED, Sequence

        prompt, stop = self._prompt.render(messages)
        if len(prompt) >= self.n_ctx:
            raise EngineError(
                f"The text is too long for the model's context window ({len(prompt)} prompt tokens, "
                f"{self.n_ctx} per request).",
                fix="Send a shorter passage, or raise `inference.n_ctx` in the config.",
            )
        anchor = self._anchor(anchor_text, params.draft_anchor) if anchor_text and params.draft_anchor else None
        sequence = Sequence(
            prompt,
            params,
            min(max_tokens, self.n_ctx - len(prompt)),
            cancel,
            n_vocab=self.batcher.n_vocab,
            anchor=anchor,
            stop=stop,
        )
        self.batcher.submit(sequence)
        try:
            while True:
                item = sequence.out.get()
                if item is FINISHED or cancel.is_set():
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            sequence.abandoned.set()  # leaves the batch at the next step, if it has not already

    def _anchor(self, text: str, strength: float):
        """A DraftAnchor on ``text``'s tokens, whose end-of-turn bonus goes to the model's end tokens."""
        from voiced.inference.draft_anchor import DraftAnchor

        llm = self.llm
        # the format's own end-of-turn token (``<|im_end|>``, ``<end_of_turn>``, ...), when it is one token
        end_turn = llm.tokenize(self._prompt.end.encode("utf-8"), add_bos=False, special=True)
        ends = {llm.token_eos(), *(end_turn if len(end_turn) == 1 else [])}
        return DraftAnchor(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False), strength, sorted(ends))

    def set_adapter(self, gguf_lora: Path | None) -> None:
        """Replace the active adapter without reloading the base; on failure the old one stays.

        llama.cpp sets adapters per context, so this is the batch's swap point: it waits for the requests
        decoding now to finish, holds new ones back meanwhile, and they run on the new adapter."""
        with self.batcher.exclusive():
            self._swap(gguf_lora)

    def _swap(self, gguf_lora: Path | None) -> None:
        import llama_cpp

        ctx = self.batcher.ctx
        new = None
        if gguf_lora is not None:
            new = llama_cpp.llama_adapter_lora_init(self.llm._model.model, str(gguf_lora).encode("utf-8"))
            if not new:
                raise ModelLoadError(
                    f"llama.cpp could not load the LoRA adapter {gguf_lora} for {self.base_path.name}.",
                    fix="Check that it was trained for this base model; otherwise activate another version "
                    "(`voiced adapters rollback` or `voiced adapters activate N`).",
                )
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(new)
            scales = (ctypes.c_float * 1)(1.0)
            failed = llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales)
        else:
            failed = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        if failed:
            if new:
                llama_cpp.llama_adapter_lora_free(new)
            raise ModelLoadError(
                f"llama.cpp refused to set the adapter {gguf_lora} on the context.",
                fix="Check that the adapter was exported for this base model.",
            )
        self.batcher.clear()  # cached keys/values were computed with the old weights
        old, self._adapter, self.adapter_path = self._adapter, new, gguf_lora
        if old:
            llama_cpp.llama_adapter_lora_free(old)

    def close(self) -> None:
        """Stop the batch, detach and free the adapter, then the model (which would free it again)."""
        if self._adapter:
            self.set_adapter(None)
        self.batcher.close()
        self.llm.close()
