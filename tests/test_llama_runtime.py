"""The one llama.cpp opener: AMX-prone buffers off, a real decode, clear errors, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voiced.inference.llama_runtime import LlamaLoadError, can_disable_extra_buffer_types, open_llama
from voiced.models import embedded_model_path


def test_opens_the_embedded_model_without_extra_buffers_and_decodes():
    llm = open_llama(embedded_model_path(), n_ctx=64, n_threads=1, logits_all=True)
    try:
        if can_disable_extra_buffer_types():
            assert llm.model_params.use_extra_bufts is False
        ids = llm.tokenize(b"Monday, Tuesday, Wednesday,", add_bos=False)
        llm.eval(ids)
        scores = np.array(llm.scores[: len(ids)])
        assert np.isfinite(scores).all()
        assert llm.detokenize([int(scores[-1].argmax())]).strip() in {b"Thursday", b"and"}
    finally:
        llm.close()
    import llama_cpp.llama_cpp as native

    # The defaults are restored for any other caller.
    if can_disable_extra_buffer_types():
        assert native.llama_model_default_params().use_extra_bufts is True


def test_missing_files_give_clear_errors(tmp_path: Path):
    with pytest.raises(LlamaLoadError, match="does not exist"):
        open_llama(tmp_path / "absent.gguf")
    with pytest.raises(LlamaLoadError, match="re-export"):
        open_llama(embedded_model_path(), lora_path=tmp_path / "absent-lora.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LlamaLoadError, match="complete GGUF"):
        open_llama(broken, n_ctx=32)


def test_importing_the_runtime_does_not_import_torch():
    code = (
        "import sys, voiced.inference.llama_runtime as r; r.open_llama; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
