"""A voice whose base is a local Hugging Face folder (not a GGUF): the job writes no GGUF LoRA, the
version it registers names the PEFT folder for transformers and an MLX adapter converted at promotion
for mlx-lm (which cannot read a PEFT folder), and the engine serves exactly that PEFT folder (its
continuation differs from the base's). Real training on the embedded model saved as a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from job_support import make_voice

from voiced.daemon.training_job import run_training_job
from voiced.registry import Registry


@pytest.fixture(scope="module")
def hf_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from voiced.config import EMBEDDED_MODEL
    from voiced.trainer.base_model import load_base_model

    folder = tmp_path_factory.mktemp("hf") / "smol"
    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)  # half the bytes; read back as float32
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_a_folder_base_gets_peft_and_mlx_artifacts_and_no_gguf(tmp_path: Path, hf_base: Path) -> None:
    from safetensors.numpy import load_file

    from voiced.trainer.mlx_convert import mlx_to_peft
    from voiced.trainer.serving import serving_runtime

    config = make_voice(tmp_path, base_model=str(hf_base))
    config.evaluation.gate_mode = "nll"  # about the artifacts, not the gate: the quick NLL gate
    # a high learning rate, so that a few steps move greedy decoding and serving can be told from the base
    result = run_training_job(config, "austen", overrides={"max_steps": 4, "learning_rate": 5e-3})
    assert result.status in ("active", "rejected"), result.reason
    registry = Registry.open("austen")
    version = registry.get(result.version)
    assert version.artifacts == {"transformers": ".", "mlx": "mlx"}
    assert version.artifact("llama.cpp") is None and not (version.path / "adapter.gguf").exists()
    assert any("no GGUF LoRA" in note for note in version.manifest.notes)
    version.validate()  # the PEFT folder and the MLX adapter both read back
    assert serving_runtime(str(hf_base)) == "transformers"
    if result.status == "active":
        assert registry.active_version() == version.number

    # the MLX adapter is the same LoRA: converted back, it equals the PEFT source
    back = mlx_to_peft(version.artifact("mlx"), tmp_path / "back")
    source = load_file(str(version.path / "adapter_model.safetensors"))
    again = load_file(str(back / "adapter_model.safetensors"))
    assert set(again) == set(source)
    for key, value in source.items():
        np.testing.assert_allclose(again[key], value.astype(np.float32), rtol=1e-6, atol=1e-7)

    # served: the engine follows the registry to the version's PEFT folder, names it, and rewrites differently
    from dataclasses import replace

    from engine_support import GREEDY, TEXT

    from voiced.inference.engine import Engine

    registry.activate(version.number)
    config.inference.n_threads = 1
    params = replace(GREEDY, max_tokens=24)
    # a continuation, not a rewrite: the rewrite guard may hand back the writer's own words from both
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        base = "".join(engine.stream_continue("austen", TEXT, params))
    with Engine(config) as engine:
        adapted = "".join(engine.stream_continue("austen", TEXT, params))
        status = engine.status()["austen"]
    assert status.backend == "transformers" and status.notice is None
    assert status.adapter_version == version.number and status.adapter == str(version.path)
    assert adapted != base
