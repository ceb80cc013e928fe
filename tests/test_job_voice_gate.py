"""The "nll+voice" gate mode: after the NLL gate promotes, the candidate's rewrites must not sound less
like the writer. Real dataset, real engine, a real (random) GGUF LoRA; no training needed."""

from __future__ import annotations

from engine_support import write_lora_gguf
from job_support import make_voice
from voiced.paths import get_paths
from voiced.trainer.gate import GateResult
from voiced.trainer.job import _Job


def test_voice_gate_rejects_and_keeps_with_reasons(tmp_path):
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
    rejected = job._voice_gate(nll_pass, dataset, candidate, active=None)
    assert not rejected.promote
    assert rejected.reason.startswith("test NLL 2.0 beats base's 2.5; voice regressed")
    assert set(rejected.towards_writer) == {"reference", "candidate"}
    assert rejected.to_dict()["towards_writer"] == {k: round(v, 5) for k, v in rejected.towards_writer.items()}

    config.evaluation.voice_gate_tolerance = 100.0
    kept = job._voice_gate(nll_pass, dataset, candidate, active=None)
    assert kept.promote and "voice kept" in kept.reason
    assert kept.towards_writer == rejected.towards_writer  # deterministic rewrites, same scores

    no_gguf = job._voice_gate(nll_pass, dataset, None, active=None)
    assert not no_gguf.promote and "no GGUF LoRA" in no_gguf.reason
