"""The one place that constructs ``llama_cpp.Llama``, with options safe on every CPU.

On AMX-capable (often virtualised) x86 CPUs, llama.cpp's extra CPU buffer
types route matrix products to ``ggml_backend_amx_mul_mat``, which crashes the
process at the first decode. Loading the model with ``use_extra_bufts`` false
avoids that path at no cost for small models. ``Llama.__init__`` does not
expose that field, so the default model parameters it starts from are adjusted
while it runs. Deliberately free of torch and transformers: the daemon and
``voiced doctor`` import it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from voiced.errors import VoicedError

if TYPE_CHECKING:
    from llama_cpp import Llama

_PARAMS_LOCK = threading.Lock()


class LlamaLoadError(VoicedError):
    """llama.cpp could not open a model or adapter, with what to do about it."""


def can_disable_extra_buffer_types() -> bool:
    """Whether this llama-cpp-python build has the model field that switches the AMX-prone buffers off."""
    import llama_cpp.llama_cpp as native

    return any(field[0] == "use_extra_bufts" for field in native.llama_model_params._fields_)


@contextlib.contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    """Make ``llama_model_default_params`` return parameters with ``use_extra_bufts`` off."""
    import llama_cpp.llama_cpp as native

    if not can_disable_extra_buffer_types():
        yield
        return
    with _PARAMS_LOCK:
        original = native.llama_model_default_params

        def safe_defaults():
            params = original()
            params.use_extra_bufts = False
            return params

        native.llama_model_default_params = safe_defaults
        try:
            yield
        finally:
            native.llama_model_default_params = original


def default_threads() -> int:
    """One thread per core available to this process (the affinity mask, not the machine)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def open_llama(
    model_path: str | Path,
    lora_path: str | Path | None = None,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    logits_all: bool = False,
    lora_scale: float = 1.0,
    verbose: bool = False,
) -> Llama:
    """Open a GGUF model (optionally with a GGUF LoRA adapter) in llama.cpp, AMX-safely."""
    from llama_cpp import Llama

    model_path = Path(model_path)
    if not model_path.is_file():
        raise LlamaLoadError(f"The model file {model_path} does not exist; check the voice's base_model.")
    if lora_path is not None and not Path(lora_path).is_file():
        raise LlamaLoadError(f"The LoRA adapter {lora_path} does not exist; re-export the adapter.")
    threads = n_threads or default_threads()
    try:
        with _without_extra_buffer_types():
            return Llama(
                model_path=str(model_path),
                lora_path=str(lora_path) if lora_path is not None else None,
                lora_scale=lora_scale,
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=logits_all,
                verbose=verbose,
            )
    except (ValueError, RuntimeError) as exc:
        what = f"{model_path} with the adapter {lora_path}" if lora_path else str(model_path)
        raise LlamaLoadError(
            f"llama.cpp could not open {what}: {exc}. Check that the files are complete GGUF files "
            "and that the adapter was exported for this base model."
        ) from exc
