"""A training job whose reference (the active version) has a damaged PEFT adapter: it is said before
training starts, naming the file, and the candidate is gated against the base model instead of the run
failing at the gate after its whole budget. What the job writes is validated before it is registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adapter_support import finish, real_adapter
from job_support import make_voice

from voiced.daemon.training_job import JobError, _check_written, run_training_job
from voiced.registry import MANIFEST, Registry


@pytest.mark.slow
def test_a_damaged_reference_is_named_up_front_and_the_base_model_is_the_reference(tmp_path: Path) -> None:
    config = make_voice(tmp_path)
    config.evaluation.gate_mode = "nll"  # about the reference, not the gate: the quick NLL gate
    registry = Registry.open("austen")
    broken = finish(registry, real_adapter(tmp_path / "old"))
    registry.activate(broken.number)
    weights = broken.path / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])  # a torn copy

    events: list[dict] = []
    result = run_training_job(config, "austen", overrides={"max_steps": 2}, progress=events.append)
    assert result.status in ("active", "rejected"), result.reason
    warnings = [i for i, e in enumerate(events) if e.get("event") == "warning"]
    assert warnings and warnings[0] == 0  # said first: before the dataset, the model load and any training
    said = events[warnings[0]]["message"]
    assert f"active v{broken.number} cannot be the reference" in said and str(weights) in said
    assert "compared with the base model" in result.reason
    assert "active" not in result.scores["test_nll"]  # scored against the base only

    version = Registry.open("austen").get(result.version)
    manifest = json.loads((version.path / MANIFEST).read_text())
    assert any(str(weights) in note for note in manifest["notes"])
    version.validate()  # everything it wrote reads back
    assert manifest["artifacts"] == {"transformers": ".", "llama.cpp": "adapter.gguf"}


def test_written_adapters_are_checked_before_they_are_registered(tmp_path: Path) -> None:
    source = real_adapter(tmp_path / "a")
    _check_written(source, source / "adapter.gguf", None)
    (source / "adapter.gguf").write_bytes((source / "adapter.gguf").read_bytes()[:500])
    with pytest.raises(JobError, match=r"adapter just written is unreadable .*adapter.gguf"):
        _check_written(source, source / "adapter.gguf", None)
