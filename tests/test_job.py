"""A whole training job: clear errors up front, a real run in a child process, and kill -9 of that child."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from pathlib import Path

import pytest
from job_support import fake_adapter, make_voice
from process_support import run_voiced

from voiced.config import ConfigError, save_config
from voiced.daemon.training_job import JobError, run_training_job, run_training_job_in_child
from voiced.registry import MANIFEST, Registry


def test_a_tiny_corpus_says_how_many_words_are_needed(tmp_path: Path) -> None:
    config = make_voice(tmp_path, documents=2)
    with pytest.raises(JobError, match=r"training needs at least 300"):
        run_training_job(config, "austen")
    assert Registry.open("austen").versions() == []


def test_a_missing_base_model_is_a_clear_error(tmp_path: Path) -> None:
    config = make_voice(tmp_path, base_model=str(tmp_path / "nowhere" / "model.gguf"))
    with pytest.raises(JobError, match="base model .*model.gguf.* cannot be used"):
        run_training_job(config, "austen")
    assert Registry.open("austen").versions() == []


def test_a_gguf_base_llama_cpp_could_not_serve_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only architectures whose GGUF LoRA export a test proves are trained on as GGUF: here the embedded
    model's llama stands for one that is not (the rule is the module's set, as the job reads it)."""
    from voiced.trainer import gguf_lora

    monkeypatch.setattr(gguf_lora, "EXPORT_TESTED_ARCHITECTURES", frozenset({"gemma3"}))
    config = make_voice(tmp_path)
    with pytest.raises(JobError, match="no tested GGUF LoRA export for the 'llama' architecture") as raised:
        run_training_job(config, "austen")
    assert "Hugging Face folder" in raised.value.fix
    assert Registry.open("austen").versions() == []


def test_an_active_adapter_of_another_base_is_no_reference_for_the_gate(tmp_path: Path) -> None:
    """After `voiced models use`, the old base's adapter cannot score on the new base: the gate compares
    with the base model, and says why (the job is stopped at its first step: only the start matters)."""
    from adapter_support import real_adapter

    config = make_voice(tmp_path)
    registry = Registry.open("austen")
    other = str(tmp_path / "another-base.gguf")
    version = registry.begin_version({"base_model": {"kind": "gguf", "id": other}})
    source = real_adapter(tmp_path / "old")
    registry.activate(registry.finish_version(version, source, source / "adapter.gguf", {"status": "candidate"}).number)
    events: list[dict] = []
    with pytest.raises(JobError, match="cancelled"):
        run_training_job(config, "austen", progress=events.append, should_stop=lambda: bool(events))
    warnings = [e["message"] for e in events if e.get("event") == "warning"]
    assert any(f"trained on base {other!r}" in w and "compared with the base model instead" in w for w in warnings)
    assert Registry.open("austen").active_version() == 1


def test_the_child_reports_expected_errors_in_the_parent(tmp_path: Path) -> None:
    make_voice(tmp_path, documents=2)
    with pytest.raises(JobError, match="training needs at least 300"):
        run_training_job_in_child("austen", niceness=0)


def test_unknown_overrides_are_refused(tmp_path: Path) -> None:
    config = make_voice(tmp_path)
    with pytest.raises(ConfigError, match="unknown key `training.no_such_setting`"):
        run_training_job(config, "austen", overrides={"no_such_setting": 1})


@pytest.mark.slow
def test_kill_9_of_the_training_child_leaves_the_active_adapter(tmp_path: Path) -> None:
    make_voice(tmp_path)
    registry = Registry.open("austen")
    before = registry.begin_version({})
    kept = registry.finish_version(before, fake_adapter(tmp_path / "kept"), None, {"status": "candidate"})
    registry.activate(kept.number)
    children: list = []
    events: list[dict] = []

    def on_event(event: dict) -> None:
        events.append(event)
        if event.get("event") == "step":
            os.kill(children[0].pid, signal.SIGKILL)

    result = run_training_job_in_child(
        "austen", overrides={"max_steps": 50}, progress=on_event, on_start=children.append
    )
    assert result.status == "failed"
    assert result.reason == "training was killed (SIGKILL, signal 9); the active adapter is unchanged"
    assert children[0].returncode == -9
    reopened = Registry.open("austen")
    assert reopened.active_version() == kept.number
    killed = reopened.get(result.version)
    assert killed.status == "failed" and "killed" in killed.reason
    assert not (killed.path / "work").exists()
    assert not list(reopened.root.glob(".tmp-*"))
    assert any(e.get("event") == "version" for e in events)


@pytest.mark.slow
def test_a_job_in_a_child_trains_gates_and_records_everything(tmp_path: Path) -> None:
    config = make_voice(tmp_path)
    config.evaluation.gate_mode = "nll"  # the NLL gate's record and margin; the voice gate: test_job_voice_gate.py
    save_config(config)
    events: list[dict] = []
    result = run_training_job_in_child("austen", niceness=5, progress=events.append)
    assert result.status in ("active", "rejected"), result.reason
    kinds = {e.get("event") for e in events}
    assert {"phase", "memory_plan", "version", "start", "step", "gate"} <= kinds
    registry = Registry.open("austen")
    version = registry.get(result.version)
    manifest = json.loads((version.path / MANIFEST).read_text())
    # the memory plan the base was loaded by, said before the load and kept where `voiced status` reads it
    assert any(note.startswith("memory plan: ") and "this machine has" in note for note in manifest["notes"])
    assert manifest["base_model"]["id"] == config.voices["austen"].base_model and manifest["base_model"]["sha256"]
    assert manifest["corpus"]["documents"] == 24 and len(manifest["corpus"]["digest"]) == 64
    assert manifest["examples"]["train"]["tokenized"] > 0 and "rewrite" in manifest["examples"]["test"]["tasks"]
    assert manifest["hyperparameters"]["max_steps"] == 6 and manifest["hyperparameters"]["lora_rank"] == 8
    assert len(manifest["losses"]["train"]) == manifest["training"]["steps"] == manifest["training"]["total_steps"]
    assert manifest["training"]["steps"] >= 2
    assert manifest["losses"]["valid"]
    nll = manifest["scores"]["test_nll"]
    assert set(nll) == {"base", "candidate"} and manifest["scores"]["test_tokens"] > 0
    assert manifest["backend"] == "peft" and manifest["device"] == "cpu"
    assert {"dataset", "load", "train", "export", "gate", "total"} <= set(manifest["durations"])
    assert (version.path / "adapter.gguf").is_file() and (version.path / "adapter_model.safetensors").is_file()
    assert not (version.path / "work").exists()
    out = tmp_path / "export"
    exported = run_voiced("adapters", "export", str(result.version), "--out", str(out), "--no-merged").stdout
    assert "Ollama Modelfile" in exported
    modelfile = (out / "ollama" / "Modelfile").read_text()
    assert "ADAPTER ./adapter.gguf" in modelfile and modelfile.startswith("FROM /")
    assert (out / "ollama" / "adapter.gguf").read_bytes() == (version.path / "adapter.gguf").read_bytes()
    if result.status == "active":
        assert registry.active_version() == result.version and nll["candidate"] < nll["base"]
    else:
        assert registry.active_version() is None and "is not better than the base model" in result.reason

    # A second job is gated against the first when that one is active; a huge margin makes it rejected.
    if result.status == "active":
        config.adapters = dataclasses.replace(config.adapters, gate_min_margin=100.0)
        save_config(config)
        second = run_training_job_in_child("austen", niceness=5)
        assert second.status == "rejected" and f"active v{result.version}'s" in second.reason
        assert Registry.open("austen").active_version() == result.version
        assert set(second.scores["test_nll"]) == {"base", "active", "candidate"}


@pytest.mark.slow
def test_should_stop_cancels_the_child_cleanly(tmp_path: Path) -> None:
    """should_stop turning true sends SIGTERM; the child stops between steps and marks its version failed."""
    make_voice(tmp_path)
    seen: list[dict] = []
    with pytest.raises(JobError, match="cancelled; the active adapter is unchanged"):
        run_training_job_in_child(
            "austen",
            overrides={"max_steps": 50},
            progress=seen.append,
            should_stop=lambda: any(e.get("event") == "step" for e in seen),
        )
    registry = Registry.open("austen")
    (version,) = registry.versions()
    assert version.status == "failed" and "cancelled" in version.reason
    assert registry.active_version() is None
    assert sum(1 for e in seen if e.get("event") == "step") < 50
