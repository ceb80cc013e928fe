"""CPU precision (training.cpu_autocast) and the validation sample (training.valid_sample): the decision,
and real short training runs of the embedded model that show each setting reaching the loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_support import austen_paragraphs
from train_support import fast_settings, load_embedded, make_examples

from voiced.config import ConfigError, TrainingSettings, config_from_dict
from voiced.trainer.callbacks import RecordingProgress
from voiced.trainer.precision import choose_precision, cpu_bf16_features, cpuinfo_flags
from voiced.trainer.training import train

# -- the decision, for CPUs other than this one ---------------------------------------------------------


def test_auto_uses_bf16_only_where_the_cpu_has_bf16_instructions():
    assert choose_precision("auto", "cpu", ["avx512_bf16"]).autocast == "bf16"
    assert choose_precision("auto", "cpu", ["amx_bf16", "avx512_bf16"]).autocast == "bf16"
    plain = choose_precision("auto", "cpu", [])
    assert plain.autocast == "off" and plain.compute_dtype == "float32"
    assert "neither avx512_bf16 nor amx_bf16" in plain.reason
    assert choose_precision("auto", "cpu", ["avx2", "avx512f"]).autocast == "off"  # other flags do not count


def test_off_keeps_float32_and_bf16_forces_autocast_even_without_the_instructions():
    assert choose_precision("off", "cpu", ["avx512_bf16"]).autocast == "off"
    forced = choose_precision("bf16", "cpu", [])
    assert forced.autocast == "bf16" and "emulated" in forced.reason
    event = choose_precision("auto", "cpu", ["avx512_bf16"]).to_event()
    assert (
        event["autocast"] == "bf16"
        and event["compute_dtype"] == "bfloat16"
        and "avx512_bf16" in event["precision_reason"]
    )


def test_gpus_keep_their_own_dtype():
    for device in ("cuda", "mps"):
        assert choose_precision("bf16", device, ["avx512_bf16"]).autocast == "off"


def test_detection_reads_torch_or_the_cpuinfo_flags(tmp_path: Path):
    assert cpu_bf16_features({"avx512_bf16": True, "amx_bf16": False, "avx2": True}) == ("avx512_bf16",)
    assert cpu_bf16_features({"avx512_bf16": False}) == ()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert {"avx512_bf16", "amx_tile", "fpu"} <= cpuinfo_flags(cpuinfo)
    assert cpuinfo_flags(tmp_path / "missing") == frozenset()
    assert set(cpu_bf16_features()) <= {"avx512_bf16", "amx_bf16"}  # this machine, whatever it has


def test_the_settings_are_checked():
    assert TrainingSettings().cpu_autocast == "auto" and TrainingSettings().valid_sample == 64
    with pytest.raises(ConfigError) as info:
        config_from_dict({"training": {"cpu_autocast": "fp16"}})
    assert "`training.cpu_autocast`" in info.value.message
    with pytest.raises(ConfigError) as info:
        config_from_dict({"training": {"valid_sample": -1}})
    assert "`training.valid_sample`" in info.value.message
    assert config_from_dict({"training": {"valid_sample": 0, "cpu_autocast": "off"}}).training.valid_sample == 0


# -- real runs -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_inputs():
    """(model, training examples, a validation split of six)."""
    model, tokenizer = load_embedded()
    paragraphs = austen_paragraphs(min_words=15)
    return model, make_examples(tokenizer, paragraphs[:8]), make_examples(tokenizer, paragraphs[40:46])


def _q_proj_output_dtypes(model) -> tuple[list, object]:
    """The dtypes the first layer's q_proj computes in, recorded during a run (a forward hook)."""
    seen: list = []
    layer = model.model.layers[0].self_attn.q_proj
    handle = layer.register_forward_hook(lambda _module, _inputs, output: seen.append(output.dtype))
    return seen, handle


@pytest.mark.parametrize("setting", ["bf16", "off"])
def test_the_precision_reaches_the_loop_and_the_start_event(run_inputs, tmp_path, setting):
    import torch
    from safetensors.torch import load_file

    model, train_set, valid_set = run_inputs
    recorder = RecordingProgress()
    seen, handle = _q_proj_output_dtypes(model)
    try:
        result = train(
            model,
            train_set,
            valid_set,
            fast_settings(max_steps=2, eval_every=2, cpu_autocast=setting),
            tmp_path / "run",
            progress=recorder,
        )
    finally:
        handle.remove()
    start = recorder.of("start")[0]
    expected = torch.bfloat16 if setting == "bf16" else torch.float32
    assert start["autocast"] == setting and start["compute_dtype"] == str(expected).removeprefix("torch.")
    assert start["dtype"] == "float32" and start["precision_reason"]
    assert seen and set(seen) == {expected}  # training and validation alike
    assert result.steps == 2 and result.adapter_dir is not None
    assert result.dtype == ("float32, bf16 autocast" if setting == "bf16" else "float32")
    assert all(loss == loss and 0 < loss < 20 for loss in result.train_losses)  # finite
    saved = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert saved and {t.dtype for t in saved.values()} == {torch.float32}  # master weights stay float32
    assert all(bool(torch.isfinite(t).all()) for t in saved.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_sample_validates_during_training_and_the_whole_split_scores_the_kept_adapter(run_inputs, tmp_path):
    from peft import PeftModel

    from voiced.trainer.peft_backend import _plain_batches, evaluate, to_tensors
    from voiced.trainer.precision import choose_precision

    model, train_set, valid_set = run_inputs
    recorder = RecordingProgress()
    settings = fast_settings(epochs=2, eval_every=1, valid_sample=2, cpu_autocast="off", lora_dropout=0.0)
    result = train(model, train_set, valid_set, settings, tmp_path / "run", progress=recorder)

    evals = recorder.of("eval")
    during, final = evals[:-1], evals[-1]
    assert recorder.of("start")[0]["valid_sample"] == 2
    assert [e["step"] for e in during] == [1, 2, 3, 4]
    assert all(e["split"] == "sample" and e["examples"] == 2 for e in during)
    assert final["split"] == "full" and final["examples"] == len(valid_set) and final["final"]
    # the best adapter is chosen on the sample; its whole-split loss is the one reported
    best_step, best_sample = min(result.valid_losses, key=lambda pair: pair[1])
    assert result.best_step == best_step == final["step"]
    assert result.best_valid_loss == pytest.approx(final["valid_loss"], abs=1e-5)
    end = recorder.of("end")[0]
    assert end["best_valid_split"] == "full" and end["best_valid_loss"] == result.best_valid_loss
    state = json.loads((result.adapter_dir / "training_state.json").read_text())
    assert state["step"] == best_step and state["valid_split"] == "full"
    assert state["valid_loss"] == pytest.approx(result.best_valid_loss)
    assert state["valid_sample_loss"] == pytest.approx(best_sample)

    # the saved adapter, scored on the whole split on its own, gives the reported loss
    loaded = PeftModel.from_pretrained(model, result.adapter_dir)
    try:
        batches = [to_tensors(b, "cpu") for b in _plain_batches(valid_set, 4)]
        assert evaluate(loaded, batches, choose_precision("off", "cpu")) == pytest.approx(
            result.best_valid_loss, rel=1e-4
        )
    finally:
        loaded.unload()


def test_valid_sample_zero_scores_the_whole_split_every_time(run_inputs, tmp_path):
    model, train_set, valid_set = run_inputs
    recorder = RecordingProgress()
    settings = fast_settings(max_steps=2, eval_every=1, valid_sample=0, cpu_autocast="off")
    result = train(model, train_set, valid_set, settings, tmp_path / "run", progress=recorder)
    evals = recorder.of("eval")
    assert [e["step"] for e in evals] == [1, 2]  # no extra pass at the end: the evaluations were whole
    assert all(e["split"] == "full" and e["examples"] == len(valid_set) and "final" not in e for e in evals)
    assert result.best_valid_loss == min(loss for _, loss in result.valid_losses)
    assert recorder.of("end")[0]["best_valid_split"] == "full"


def test_the_sample_is_fixed_and_drawn_from_the_split():
    from voiced.trainer.peft_backend import valid_sample

    split = list(range(100))
    first = valid_sample(split, 10, seed=7)
    assert first == valid_sample(split, 10, seed=7) and len(set(first)) == 10 and first == sorted(first)
    assert valid_sample(split, 10, seed=8) != first
    assert valid_sample(split, 0, seed=7) == split and valid_sample(split, 500, seed=7) == split


def test_activation_checkpointing_recomputes_the_same_training(run_inputs, tmp_path):
    model, train_set, _valid = run_inputs
    runs = {}
    for every in (0, 1):
        recorder = RecordingProgress()
        settings = fast_settings(max_steps=2, activation_checkpointing=every, lora_dropout=0.0, cpu_autocast="off")
        runs[every] = train(model, train_set, [], settings, tmp_path / f"run{every}", progress=recorder)
        assert recorder.of("start")[0]["activation_checkpointing"] == every
    assert runs[1].train_losses == pytest.approx(runs[0].train_losses, rel=1e-5)
    inner = model
    assert not getattr(inner, "is_gradient_checkpointing", False)  # the caller's model is given back as it was
    assert not hasattr(inner, "_require_grads_hook")
