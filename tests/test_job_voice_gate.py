"""The gate after training. By default ("voice") a real job rewrites held-out drafts with the reference and
the candidate and records the figures and the decision in the version's manifest; the older "nll+voice"
check still rejects and keeps with reasons. Real dataset, real engine, real GGUF LoRAs."""

from __future__ import annotations

import json

import pytest
from engine_support import write_lora_gguf
from job_support import make_voice
from process_support import run_voiced

from voiced.config import save_config
from voiced.daemon.training_job import _Job, run_training_job
from voiced.paths import get_paths
from voiced.registry import MANIFEST, Registry
from voiced.trainer.gate import GateResult


def test_a_real_job_is_gated_on_its_rewrites_by_default(tmp_path):
    config = make_voice(tmp_path)
    assert config.evaluation.gate_mode == "voice"
    config.evaluation.gate_passages = 3
    config.evaluation.max_tokens = 48
    config.inference.n_threads = 1
    save_config(config)
    events: list[dict] = []
    result = run_training_job(config, "austen", overrides={"max_steps": 2}, progress=events.append)
    assert result.status in ("active", "rejected"), result.reason
    assert {"event": "phase", "phase": "gate-voice"} in events

    version = Registry.open("austen").get(result.version)
    manifest = json.loads((version.path / MANIFEST).read_text())
    figures = manifest["scores"]["voice_gate"]
    assert figures["passages"] == 3 and figures["promote"] == (result.status == "active")
    assert figures["reason"] == manifest["reason"] == result.reason and result.reason.startswith("The new voice")
    for side in ("reference", "candidate"):
        assert set(figures["held_out"][side]) >= {
            "chrf_gain",
            "copy",
            "commentary",
            "kept_names_numbers",
            "guard_kept_draft",
        }
    # the gate rounds its figures to 4 places, the manifest its NLL to 5
    assert figures["nll"]["reference"] == pytest.approx(manifest["scores"]["test_nll"]["base"], abs=1e-4)
    assert figures["seconds"] > 0
    if result.status == "rejected":
        listed = run_voiced("adapters", "list").stdout
        assert f"rejected: {result.reason}" in " ".join(listed.split())


def test_nll_voice_mode_rejects_and_keeps_with_reasons(tmp_path):
    config = make_voice(tmp_path)
    config.evaluation.gate_mode = "nll+voice"
    config.evaluation.passages = 2
    config.evaluation.max_tokens = 24
    config.inference.n_threads = 1
    job = _Job(config, "austen", {}, lambda event: None, lambda: False, get_paths())
    dataset, _ = job._dataset()
    candidate = write_lora_gguf(tmp_path / "candidate.gguf", seed=3)
    nll_pass = GateResult(promote=True, reason="test NLL 2.0 beats base's 2.5", scores={"base": 2.5, "candidate": 2.0})

    config.evaluation.voice_gate_tolerance = -100.0  # any candidate "regresses" against this tolerance
    rejected = job._voice_gate(nll_pass, dataset, candidate, None)
    assert not rejected.promote
    assert rejected.reason.startswith("test NLL 2.0 beats base's 2.5; voice regressed")
    assert set(rejected.towards_writer) == {"reference", "candidate"}

    config.evaluation.voice_gate_tolerance = 100.0
    kept = job._voice_gate(nll_pass, dataset, candidate, None)
    assert kept.promote and "voice kept" in kept.reason

    no_adapter = job._voice_gate(nll_pass, dataset, None, None)
    assert not no_adapter.promote and "no adapter for the daemon's runtime" in no_adapter.reason
