"""`voiced doctor --measure`: the extrapolation from given measurements, a real measurement, and the CLI."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from voiced.cli import main
from voiced.cli.doctor import capacity_lines
from voiced.config import TrainingSettings
from voiced.trainer.capacity import (
    ASSUMED_CORPUS_WORDS,
    READING_TOKENS_PER_SECOND,
    Measurement,
    assess,
    measure,
)
from voiced.trainer.memory_plan import GB, KNOWN_SHAPES, DeviceMemory

SMOL_PARAMETERS = KNOWN_SHAPES["SmolLM2-135M"].total_parameters


def measured(kind: str, free_gb: float, train: float, decode: float) -> Measurement:
    return Measurement(kind, train, decode, SMOL_PARAMETERS, DeviceMemory(kind, free_gb * GB, free_gb * GB))


def test_a_cpu_recommends_the_largest_size_that_reads_fast_and_trains_overnight():
    capacity = assess(measured("cpu", 16, train=250, decode=60), 50_000, 180, TrainingSettings(), 512)
    by_size = {v.label: v for v in capacity.verdicts}
    assert capacity.nightly_tokens == pytest.approx(50_000 * 1.3 * 2.2 * 3)  # words -> tokens -> examples, 3 epochs
    half = by_size["0.5B"]
    scale = SMOL_PARAMETERS / KNOWN_SHAPES["Qwen2.5-0.5B"].total_parameters
    assert half.decode_tokens_per_second == pytest.approx(60 * scale)  # bandwidth: bytes of the weights
    assert half.train_tokens_per_second == pytest.approx(250 * scale)  # compute: parameters
    assert half.nightly_minutes == pytest.approx(capacity.nightly_tokens / (250 * scale) / 60)
    assert half.ok and half.fits and half.plan.startswith("float32 LoRA")
    assert by_size["1.5B"].decode_tokens_per_second < READING_TOKENS_PER_SECOND and not by_size["1.5B"].ok
    assert not by_size["8B"].fits and by_size["8B"].plan.startswith("does not fit: even float32 LoRA")
    assert capacity.recommended is half


def test_a_gpu_recommends_8b_and_plans_qlora_where_bf16_does_not_fit():
    roomy = assess(measured("cuda", 24, train=5000, decode=600), 50_000, 180, TrainingSettings(), 512)
    assert roomy.recommended is not None and roomy.recommended.label == "8B"
    assert roomy.recommended.plan.startswith("bf16 LoRA with activation checkpointing")
    small = assess(measured("cuda", 12, train=5000, decode=600), 50_000, 180, TrainingSettings(), 512)
    eight = small.verdicts[-1]
    assert eight.plan.startswith("QLoRA (4-bit nf4)") and eight.fits
    # QLoRA's dequantisation and the recomputation are slower than the plain bf16 rate
    assert eight.train_tokens_per_second == pytest.approx(roomy.verdicts[-1].train_tokens_per_second * 0.7)


def test_nothing_recommended_is_said_and_an_empty_corpus_is_assumed_typical():
    capacity = assess(measured("cpu", 16, train=5, decode=3), 0, 0, TrainingSettings(), 512)
    assert capacity.corpus_assumed and capacity.corpus_words == ASSUMED_CORPUS_WORDS
    assert capacity.budget_minutes == 480  # no budget set: a night
    assert capacity.recommended is None
    lines = capacity_lines(capacity)
    assert "a typical 50,000-word corpus (this voice has none scanned yet)" in lines[1]
    assert lines[-2].startswith("Recommended: none of these sizes")
    assert sum(line.count("!") for line in lines[3:8]) >= 5


def test_the_report_lines_say_the_measurement_each_size_and_the_choice():
    capacity = assess(measured("cpu", 16, train=250, decode=60), 120_000, 180, TrainingSettings(epochs=2), 512)
    lines = capacity_lines(capacity)
    assert lines[0].startswith("Measured on cpu with the embedded model (135M parameters): training 250 tokens/s")
    assert "this voice's 120,000 words" in lines[1] and "within 180 minutes" in lines[1]
    assert [line.split()[0] for line in lines[3:8]] == ["0.135B", "0.5B", "1.5B", "3B", "8B"]
    assert lines[-2].startswith(f"Recommended: {capacity.recommended.label}")


@pytest.mark.slow
def test_a_real_measurement_here_gives_rates_and_a_recommendation():
    lines: list[str] = []
    settings = dataclasses.replace(TrainingSettings(), torch_threads=1, device="cpu")
    m = measure(settings, lines.append, train_steps=3, seq_len=64, decode_tokens=16, decode_threads=1)
    assert m.train_tokens_per_second > 0 and m.decode_tokens_per_second > 0 and m.memory.free_bytes > 0
    assert m.parameters == SMOL_PARAMETERS
    assert lines[0].startswith("Measuring training") and lines[1].startswith("Measuring decoding")
    # at the rates measured, the embedded model is recommended for a small corpus on a generous budget
    capacity = assess(m, 2_000, 24 * 60, settings, 512)
    assert capacity.recommended is not None, capacity_lines(capacity)


@pytest.mark.slow
def test_voiced_doctor_measure_prints_the_capacity():
    result = CliRunner().invoke(main, ["doctor", "--measure"])
    out = result.output
    assert "Measuring training:" in out and "Measuring decoding:" in out
    assert "Measured on " in out and "Reading speed: 6 tokens/s" in out
    assert "Recommended:" in out
    assert "0.135B" in out and "8B" in out
    assert result.exit_code == 1  # no configuration in the test home: the checks fail, the report still comes
