"""The memory plan: the estimate per part, the choice (bf16, checkpointing, QLoRA, stop) on devices this
machine does not have, the embedded model's real shapes, and the plan reaching the trainer."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.trainer.memory_plan import (
    GB,
    GGUF_NO_QUANTIZATION,
    KNOWN_SHAPES,
    DeviceMemory,
    MemoryPlanError,
    Workload,
    estimate,
    plan_memory,
    shape_from_config,
    shape_from_gguf,
)

REPO = Path(__file__).resolve().parent.parent
LLAMA_8B, LLAMA_70B, SMOL = KNOWN_SHAPES["Llama-3.1-8B"], KNOWN_SHAPES["Llama-3.1-70B"], KNOWN_SHAPES["SmolLM2-135M"]
WORK = Workload(seq_len=512, batch_size=4, lora_rank=16)


def gpu(free_gb: float) -> DeviceMemory:
    return DeviceMemory("cuda", free_gb * GB, free_gb * GB, "a test GPU")


def cpu(free_gb: float) -> DeviceMemory:
    return DeviceMemory("cpu", free_gb * GB, free_gb * GB)


def test_parameter_counts_follow_the_shapes():
    assert LLAMA_8B.total_parameters == pytest.approx(8.03e9, rel=0.005)
    assert LLAMA_70B.total_parameters == pytest.approx(70.55e9, rel=0.005)
    assert SMOL.total_parameters == pytest.approx(134.5e6, rel=0.005)
    assert LLAMA_8B.size_label == "8B" and SMOL.size_label == "0.135B"
    # rank 16 on q, k, v, o of 32 layers: 16 x ((4096 + 4096) x 2 + (4096 + 1024) x 2) x 32
    assert LLAMA_8B.lora_parameters(16, ("q_proj", "k_proj", "v_proj", "o_proj")) == 13_631_488
    assert LLAMA_8B.lora_parameters(16, ["all-linear"]) > 3 * LLAMA_8B.lora_parameters(16, ["q_proj", "v_proj"])


def test_the_embedded_gguf_gives_the_shapes_and_the_counted_parameters():
    from voiced.models import embedded_model_path

    shape = shape_from_gguf(embedded_model_path())
    assert (shape.model_type, shape.n_layers, shape.hidden_size, shape.n_head, shape.n_head_kv) == (
        "llama",
        30,
        576,
        9,
        3,
    )
    assert (shape.intermediate_size, shape.vocab_size, shape.tied_embeddings) == (1536, 49152, True)
    assert shape.parameters == dataclasses.replace(shape, parameters=0).total_parameters  # counted = from shapes


def test_8b_on_a_12_gb_gpu_trains_with_qlora_and_says_why():
    plan = plan_memory(LLAMA_8B, WORK, gpu(12))
    assert plan.quantized and plan.checkpointing
    weights = plan.chosen.parts["weights"]
    assert 5.0 * GB < weights < 6.2 * GB  # 7.0B linear weights at 0.52 bytes, 1.05B embedding + head in bf16
    assert 6 * GB < plan.needed_bytes < 10.8 * GB
    sentence = plan.describe()
    assert sentence.startswith("Llama-3.1-8B (8B) in bf16 needs about 32 GB (20 GB with activation checkpointing)")
    assert sentence.endswith("this GPU has 12 GB free: QLoRA (4-bit nf4) with activation checkpointing (about 10 GB)")
    event = plan.to_event()
    assert event["quantization"] == "4bit" and event["free_gb"] == 12 and event["message"] == sentence


def test_8b_on_80_gb_trains_in_bf16_and_on_24_gb_with_checkpointing():
    roomy = plan_memory(LLAMA_8B, WORK, gpu(80))
    assert (roomy.quantized, roomy.checkpointing, roomy.chosen.mode) == (False, False, "bf16")
    assert roomy.chosen.parts["weights"] == LLAMA_8B.total_parameters * 2
    assert roomy.describe().endswith("this GPU has 80 GB free: bf16 LoRA")
    middle = plan_memory(LLAMA_8B, WORK, gpu(24))
    assert (middle.quantized, middle.checkpointing) == (False, True)
    assert plan_memory(LLAMA_8B, WORK, gpu(80), quantization="4bit").quantized  # forced, and said so
    assert 'training.quantization is "4bit"' in plan_memory(LLAMA_8B, WORK, gpu(80), quantization="4bit").describe()


def test_70b_on_12_gb_stops_saying_what_it_needs_what_there_is_and_what_to_do():
    with pytest.raises(MemoryPlanError) as caught:
        plan_memory(LLAMA_70B, WORK, gpu(12))
    message, fix = caught.value.message, caught.value.fix
    assert "Training Llama-3.1-70B (71B) would not fit in memory" in message
    assert "even QLoRA (4-bit nf4) with activation checkpointing needs about 51 GB (weights 40 GB" in message
    assert "this GPU has 12 GB free" in message
    assert (
        "`base_model`" in fix
        and "`dataset.max_example_tokens`, now 512" in fix
        and "`training.batch_size`, now 4" in fix
    )


def test_no_qlora_on_a_cpu_nor_for_a_gguf_base_nor_when_it_is_off():
    with pytest.raises(MemoryPlanError, match="CUDA-only"):
        plan_memory(LLAMA_8B, WORK, cpu(12))
    with pytest.raises(MemoryPlanError, match="trains only on CUDA"):
        plan_memory(SMOL, WORK, cpu(12), quantization="4bit")
    with pytest.raises(MemoryPlanError) as caught:
        plan_memory(LLAMA_8B, WORK, gpu(12), no_quantization=GGUF_NO_QUANTIZATION)
    assert "cannot load a GGUF base 4-bit" in caught.value.message and "safetensors folder" in caught.value.fix
    with pytest.raises(MemoryPlanError, match='training.quantization is "none"'):
        plan_memory(LLAMA_8B, WORK, gpu(12), quantization="none")


def test_the_embedded_model_fits_a_cpu_and_checkpointing_comes_on_when_ram_is_short():
    plan = plan_memory(SMOL, WORK, cpu(16))
    assert (plan.chosen.mode, plan.quantized, plan.checkpointing) == ("float32", False, False)
    assert plan.describe().endswith("this machine has 16 GB free: float32 LoRA")
    short = plan_memory(SMOL, WORK, cpu(3))
    assert short.checkpointing and short.needed_bytes < 0.9 * 3 * GB
    with pytest.raises(MemoryPlanError, match="this machine has 0.5 GB free"):
        plan_memory(SMOL, WORK, cpu(0.5))


def test_a_big_vocabulary_without_the_chunked_head_pays_for_its_logits():
    gemma = shape_from_config(
        {
            "model_type": "gemma2",
            "num_hidden_layers": 26,
            "hidden_size": 2304,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
            "head_dim": 256,
            "intermediate_size": 9216,
            "vocab_size": 256000,
            "tie_word_embeddings": True,
        },
        "gemma-2-2b",
    )
    work = Workload(seq_len=1024, batch_size=4, lora_rank=16)
    logits = estimate(gemma, work, gpu(80), "bf16", False).parts["logits"]
    assert logits == 4 * 1024 * 256000 * 10  # bf16 logits, their float32 copy and its gradient: 10.5 GB
    chunked = estimate(dataclasses.replace(gemma, model_type="llama"), work, gpu(80), "bf16", False)
    assert chunked.parts["logits"] < 0.3 * GB


def test_the_quantization_setting_reaches_the_trainer(tmp_path):
    """training.quantization = "4bit" on a CPU stops before a step, and the default plan is reported."""
    from train_support import fast_settings, load_embedded

    from voiced.trainer.results import TrainingError
    from voiced.trainer.training import train

    model, _ = load_embedded()
    examples = [{"input_ids": list(range(1000, 1032)), "labels": list(range(1000, 1032))} for _ in range(4)]
    events: list[dict] = []
    with pytest.raises(TrainingError, match="trains only on CUDA"):
        train(model, examples, [], fast_settings(quantization="4bit", max_steps=1), tmp_path / "a", events.append)
    assert not any(e["event"] == "start" for e in events)
    train(model, examples, [], fast_settings(max_steps=1), tmp_path / "b", events.append)
    assert events[0]["event"] == "start"  # a model loaded by the caller: the plan comes with the start
    plan = events[0]["memory"]
    assert plan["quantization"] == "none" and plan["device"] == "cpu" and 0.5 < plan["needed_gb"] < 3
    assert events[0]["memory_plan"] == plan["message"] and events[0]["quantized"] is False
    assert "(0.135B) in float32 needs about" in plan["message"] and "this machine has" in plan["message"]


def test_a_base_the_trainer_loads_is_planned_before_the_load(tmp_path):
    from train_support import fast_settings

    from voiced.models import EMBEDDED_MODEL
    from voiced.trainer.training import train

    examples = [{"input_ids": list(range(1000, 1032)), "labels": list(range(1000, 1032))} for _ in range(4)]
    events: list[dict] = []
    train(EMBEDDED_MODEL, examples, [], fast_settings(max_steps=1), tmp_path / "run", events.append)
    names = [e["event"] for e in events]
    assert names[0] == "memory_plan" and names[1] == "start"
    assert events[0]["message"].startswith(f"{EMBEDDED_MODEL} (0.135B) in float32 needs about")


WORKER = r"""
import json, sys, tempfile
from pathlib import Path

from tests.train_support import fast_settings, load_embedded
from voiced.trainer.peft_backend import longest_example, plan_for_model
from voiced.trainer.precision import choose_precision
from voiced.trainer.training import train

batch, length = int(sys.argv[1]), int(sys.argv[2])
model, _ = load_embedded()
ids = [list(range(1000 + i, 1000 + i + length)) for i in range(batch * 2)]
examples = [{"input_ids": row, "labels": row} for row in ids]
settings = fast_settings(batch_size=batch, max_steps=2, batching="pad")
plan = plan_for_model(model, settings, "cpu", longest_example(examples), choose_precision(settings.cpu_autocast, "cpu"))
with tempfile.TemporaryDirectory() as out:
    train(model, examples, [], settings, Path(out))
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak": peak, "estimate": plan.needed_bytes}))
"""


@pytest.mark.slow
def test_the_estimate_is_within_half_of_the_measured_peak():
    """Two real trainer steps at batch 2 x 256 tokens in a fresh process: its peak resident memory (the
    process, the model, the step) against the plan's estimate for the same run."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER, "2", "256"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0.5 < figures["estimate"] / figures["peak"] < 1.5, figures


@pytest.mark.slow
def test_a_job_the_plan_stops_writes_no_version_and_leaves_the_active_adapter(tmp_path):
    """The job loads its base by the plan, so the stop comes before the weights load and before any version."""
    from job_support import fake_adapter, make_voice

    from voiced.daemon.training_job import JobError, run_training_job
    from voiced.registry import Registry

    config = make_voice(tmp_path)
    registry = Registry.open("austen")
    kept = registry.finish_version(
        registry.begin_version({}), fake_adapter(tmp_path / "kept"), None, {"status": "candidate"}
    )
    registry.activate(kept.number)
    events: list[dict] = []
    # the embedded base is a GGUF, which transformers cannot load 4-bit: the plan says so before loading it
    with pytest.raises(JobError, match='quantization is "4bit", but transformers cannot load a GGUF base 4-bit'):
        run_training_job(config, "austen", overrides={"quantization": "4bit"}, progress=events.append)
    reopened = Registry.open("austen")
    assert reopened.active_version() == kept.number
    assert [v.number for v in reopened.versions()] == [kept.number]
    assert not any(e.get("event") in ("step", "version") for e in events)
