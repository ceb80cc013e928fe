"""Real LoRA training of the embedded SmolLM2-135M on short Austen examples."""

from __future__ import annotations

import json
import stat

import pytest
from data_support import austen_paragraphs
from train_support import fast_settings, load_embedded, make_examples

from voiced.trainer.callbacks import RecordingProgress
from voiced.trainer.training import train

STEP_KEYS = {"event", "step", "total_steps", "loss", "lr", "tokens_per_second", "eta_seconds", "epoch", "stage"}


@pytest.fixture(scope="module")
def embedded():
    return load_embedded()


@pytest.fixture(scope="module")
def examples(embedded):
    _model, tokenizer = embedded
    paragraphs = austen_paragraphs(min_words=15)
    return make_examples(tokenizer, paragraphs[:8]), make_examples(tokenizer, paragraphs[40:44])


def test_training_lowers_the_loss_and_keeps_a_loadable_best_adapter(embedded, examples, tmp_path):
    model, _ = embedded
    train_set, valid_set = examples
    recorder = RecordingProgress()
    result = train(model, train_set, valid_set, fast_settings(epochs=5), tmp_path / "run", progress=recorder)

    assert result.stopped == "completed" and result.steps == result.total_steps == 10
    first, last = sum(result.train_losses[:3]) / 3, sum(result.train_losses[-3:]) / 3
    assert last < first - 0.3, result.train_losses
    # eight examples for five epochs can overfit: the kept adapter is the one at the lowest validation loss
    lowest_step, lowest = min(result.valid_losses, key=lambda pair: pair[1])
    assert (result.best_step, result.best_valid_loss) == (lowest_step, pytest.approx(lowest))

    best = result.adapter_dir
    assert best == tmp_path / "run" / "best"
    assert {p.name for p in best.iterdir()} >= {
        "adapter_model.safetensors",
        "adapter_config.json",
        "training_state.json",
    }
    assert not list(best.glob("*.bin")) and not list((tmp_path / "run").glob(".best.*"))
    assert stat.S_IMODE(best.stat().st_mode) == 0o700
    assert stat.S_IMODE((best / "adapter_model.safetensors").stat().st_mode) == 0o600
    state = json.loads((best / "training_state.json").read_text())
    assert state["step"] == result.best_step and state["valid_loss"] == pytest.approx(result.best_valid_loss)

    # the caller's model came back without LoRA layers; the saved adapter loads onto it with PEFT
    assert not any("lora_" in name for name, _ in model.named_parameters())
    from peft import PeftModel

    loaded = PeftModel.from_pretrained(model, best)
    try:
        lora_b = [p for name, p in loaded.named_parameters() if "lora_B" in name]
        assert len(lora_b) == 30 * 4 and any(float(p.abs().sum()) > 0 for p in lora_b)
    finally:
        loaded.unload()

    kinds = [e["event"] for e in recorder.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 10 and kinds.count("eval") == 3
    assert recorder.of("start")[0]["total_steps"] == 10
    for event in recorder.of("step"):
        assert set(event) == STEP_KEYS and event["tokens_per_second"] > 0 and event["eta_seconds"] >= 0
    assert recorder.of("step")[-1]["eta_seconds"] == 0
    assert all({"step", "valid_loss", "best", "improved"} <= set(e) for e in recorder.of("eval"))
    assert recorder.of("end")[0]["adapter_dir"] == str(best)


def test_max_steps_ends_a_smoke_run(embedded, examples, tmp_path):
    model, _ = embedded
    train_set, valid_set = examples
    result = train(model, train_set, valid_set, fast_settings(epochs=5, max_steps=2, eval_every=50), tmp_path / "run")
    assert (result.stopped, result.steps, result.total_steps) == ("max_steps", 2, 2)
    assert result.valid_losses and result.valid_losses[-1][0] == 2  # validated once at the end
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()


def test_a_tiny_time_budget_ends_the_run_early(embedded, examples, tmp_path):
    model, _ = embedded
    train_set, valid_set = examples
    result = train(model, train_set, valid_set, fast_settings(epochs=5, max_minutes=0.02), tmp_path / "run")
    assert result.stopped == "max_minutes"
    assert result.steps < result.total_steps == 10


def test_early_stopping_with_patience_keeps_the_best_step(embedded, examples, tmp_path):
    """A learning rate far too high makes the validation loss worse after the first evaluation."""
    model, _ = embedded
    train_set, valid_set = examples
    settings = fast_settings(epochs=5, learning_rate=0.5, warmup_fraction=0, eval_every=1, patience=2, max_grad_norm=0)
    result = train(model, train_set, valid_set, settings, tmp_path / "run")
    assert result.stopped == "early_stopping", result.valid_losses
    assert result.steps < result.total_steps
    assert len(result.valid_losses) == result.steps
    state = json.loads((result.adapter_dir / "training_state.json").read_text())
    assert state["step"] == result.best_step
    assert result.steps - result.best_step == 2


def test_cancel_ends_cleanly_keeping_the_best_adapter(embedded, examples, tmp_path):
    model, _ = embedded
    train_set, valid_set = examples
    recorder = RecordingProgress()
    stop_after = 3
    result = train(
        model,
        train_set,
        valid_set,
        fast_settings(epochs=5, eval_every=2),
        tmp_path / "run",
        progress=recorder,
        should_stop=lambda: len(recorder.of("step")) >= stop_after,
    )
    assert (result.stopped, result.steps) == ("cancelled", stop_after)
    assert result.best_step == 2 and (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best"]
    assert recorder.events[-1]["event"] == "end" and recorder.events[-1]["stopped"] == "cancelled"
