"""GGUF bases through llama-cpp-python, with the LoRA adapter swapped in place.

The model is opened by ``voiced.inference.llama_runtime.open_llama`` (which keeps
llama.cpp off the AMX path that crashes on some CPUs). Adapters are managed
here through llama.cpp's adapter API rather than ``Llama(lora_path=...)``,
which binds one adapter for the object's whole life: a swap loads the new
adapter (``llama_adapter_lora_init``), sets it on the context
(``llama_set_adapters_lora``), clears the KV cache (``llama_memory_clear``)
and only then frees the old one (``llama_adapter_lora_free``), so the base
weights are never reloaded.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from pathlib import Path

from voiced.inference.generation import GenerationParams, ModelLoadError


def _runtime():
    """The shared, torch-free loader module (imported lazily: llama_cpp loads a native library)."""
    from voiced.inference import llama_runtime

    return llama_runtime


class LlamaBackend:
    """One GGUF base loaded once; one LoRA adapter (or none) active at a time."""

    kind = runtime = "llama.cpp"  # the registry's name for what this backend loads: a version's GGUF LoRA

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int | None) -> None:
        self.base_path = Path(model_path)
        self.adapter_path: Path | None = None
        self._adapter = None  # llama_adapter_lora_p owned by this backend
        loader = _runtime()
        try:
            self.llm = loader.open_llama(model_path, n_ctx=n_ctx, n_threads=n_threads)
        except (loader.LlamaLoadError, ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load the base model {model_path}: {exc}",
                fix="Check that the file is a complete GGUF model (re-download or re-export it), "
                "or set `base_model` of the voice to another model.",
            ) from exc
        self.n_ctx = self.llm.n_ctx()

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
        a ``draft_anchor`` strength, decoding is anchored to that text (voiced.inference.draft_anchor)."""
        processors = None
        if anchor_text and params.draft_anchor:
            processors = [self._anchor_processor(anchor_text, params.draft_anchor)]
        stream = self.llm.create_chat_completion(
            logits_processor=processors,
            messages=messages,
            stream=True,
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            repeat_penalty=params.repeat_penalty,
            seed=params.seed,
        )
        try:
            for chunk in stream:
                if cancel.is_set():
                    return
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        finally:
            stream.close()

    def _anchor_processor(self, text: str, strength: float):
        """A llama-cpp-python logits processor holding one DraftAnchor; it reads the tokens decoded so far
        from the context (the prompt's length is taken at the first call), as the processor is only given
        the context's whole id buffer."""
        from voiced.inference.draft_anchor import DraftAnchor

        llm = self.llm
        ends = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[:1]}
        anchor = DraftAnchor(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False), strength, sorted(ends))
        seen: list[int] = []  # [context length when the reply started, tokens of the reply observed]

        def apply(_ids, logits):
            if not seen:
                seen[:] = [llm.n_tokens, 0]
            start, observed = seen
            reply = llm.input_ids[start + observed : llm.n_tokens]
            anchor.observe_all([int(t) for t in reply])
            seen[1] = observed + len(reply)
            for token, bonus in anchor.bonuses().items():
                logits[token] += bonus
            return logits

        return apply

    def set_adapter(self, gguf_lora: Path | None) -> None:
        """Replace the active adapter without reloading the base; on failure the old one stays."""
        import llama_cpp

        ctx = self.llm._ctx.ctx
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
        # Cached keys/values were computed with the old weights: drop them, and
        # make llama-cpp-python forget the prompt prefix it would otherwise reuse.
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        self.llm.reset()
        old, self._adapter, self.adapter_path = self._adapter, new, gguf_lora
        if old:
            llama_cpp.llama_adapter_lora_free(old)

    def close(self) -> None:
        """Detach and free the adapter before the model (which would free it again)."""
        if self._adapter:
            self.set_adapter(None)
        self.llm.close()
