"""A voice whose base is a model in Ollama's store (`voiced models use ollama:...`): a real training job
trains on the blob (through its .gguf link), exports a GGUF LoRA for it, and llama.cpp runs the two together."""

from __future__ import annotations

from pathlib import Path

import pytest
from job_support import make_voice
from model_store_support import isolate_stores, ollama_model

from voiced.daemon.training_job import run_training_job
from voiced.registry import Registry


@pytest.mark.slow
def test_an_ollama_store_base_trains_and_gets_a_llama_cpp_lora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voiced.adapter_check import check_gguf_lora
    from voiced.inference.llama_runtime import open_llama
    from voiced.models import resolve_base_model
    from voiced.trainer.serving import serving_runtime

    home = isolate_stores(monkeypatch, tmp_path / "home")
    blob = ollama_model(home / ".ollama" / "models", "library", "smollm2", "135m")
    config = make_voice(tmp_path, base_model="ollama:smollm2:135m")
    config.evaluation.gate_mode = "nll"  # about the base and its artifacts, not the gate: the quick NLL gate
    result = run_training_job(config, "austen", overrides={"max_steps": 2})
    assert result.status in ("active", "rejected"), result.reason

    version = Registry.open("austen").get(result.version)
    assert version.manifest.base_model.id == "ollama:smollm2:135m"
    assert version.manifest.base_model.sha256 == blob.name.removeprefix("sha256-")
    assert version.artifact("llama.cpp") == version.path / "adapter.gguf"
    check_gguf_lora(version.path / "adapter.gguf")
    version.validate("llama.cpp")
    assert serving_runtime("ollama:smollm2:135m") == "llama.cpp"

    base = resolve_base_model("ollama:smollm2:135m")
    llm = open_llama(base.location, lora_path=version.path / "adapter.gguf", n_ctx=128)
    out = llm.create_completion("The morning was", max_tokens=4, temperature=0.0)
    assert isinstance(out, dict) and out["choices"][0]["text"]
