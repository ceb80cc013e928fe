"""The plain-Python parts of training: LR heuristic and schedule, stopping, backend choice,
MLX data conversion, progress callbacks, atomic checkpoints and `voiced train`'s options."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from voiced.config import TrainingSettings
from voiced.trainer import stopping
from voiced.trainer.backends import backend_name, choose_backend
from voiced.trainer.callbacks import JsonLinesProgress, RecordingProgress, TqdmProgress, fan_out
from voiced.trainer.checkpoint import discard_partial, save_best
from voiced.trainer.mlx_backend import MlxDataset, mlx_adapter_config, mlx_lora_parameters, to_mlx_example
from voiced.trainer.results import TrainingError
from voiced.trainer.schedule import heuristic_learning_rate, lr_factor, resolve_learning_rate, total_steps, warmup_steps


def test_learning_rate_heuristic_and_its_cap():
    assert heuristic_learning_rate(4096, cap=1e-3) == pytest.approx(5e-4 * (2000 / 4096) ** 0.781, rel=1e-9)
    assert heuristic_learning_rate(4096, cap=1e-3) == pytest.approx(2.86e-4, rel=0.01)
    assert heuristic_learning_rate(2048, cap=1e-3) == pytest.approx(4.91e-4, rel=0.01)
    assert heuristic_learning_rate(576, cap=0) == pytest.approx(1.32e-3, rel=0.01)  # what the cap prevents
    assert heuristic_learning_rate(576, cap=1e-3) == 1e-3  # SmolLM2-135M
    assert resolve_learning_rate(TrainingSettings(), 576) == 1e-3
    assert resolve_learning_rate(TrainingSettings(learning_rate=3e-4), 576) == 3e-4


def test_warm_up_then_linear_decay():
    warm = warmup_steps(100, 0.05)
    factors = [lr_factor(step, 100, warm) for step in range(100)]
    assert warm == 5 and factors[:warm] == sorted(factors[:warm]) and factors[warm] == 1.0
    assert factors[warm:] == sorted(factors[warm:], reverse=True) and factors[-1] == pytest.approx(1 / 95)
    assert warmup_steps(10, 0.0) == 0 and lr_factor(0, 10, 0) == 1.0


def test_total_steps_follow_epochs_and_max_steps():
    assert total_steps(650, TrainingSettings(batch_size=4, epochs=3)) == 163 * 3
    assert total_steps(650, TrainingSettings(batch_size=4, epochs=3, max_steps=20)) == 20


def test_early_stopping_counts_evaluations_without_improvement():
    early = stopping.EarlyStopping(patience=2)
    assert early.update(10, 2.0) and not early.update(20, 2.1) and not early.should_stop
    assert not early.update(30, float("nan")) and early.should_stop and (early.best_step, early.best) == (10, 2.0)
    never = stopping.EarlyStopping(patience=0)
    for step in range(5):
        never.update(step, 1.0 + step)
    assert not never.should_stop


def test_time_budget():
    assert stopping.TimeBudget(0).remaining is None and not stopping.TimeBudget(0).exhausted
    assert stopping.TimeBudget(1e-9).exhausted and stopping.TimeBudget(5).remaining > 299


def test_backend_choice():
    assert backend_name("auto", apple_silicon=True, has_mlx=True) == "mlx"
    assert backend_name("auto", apple_silicon=True, has_mlx=False) == "peft"
    assert backend_name("auto", apple_silicon=False, has_mlx=True) == "peft"
    assert backend_name("peft", apple_silicon=True, has_mlx=True) == "peft"
    with pytest.raises(TrainingError, match="Apple Silicon"):
        backend_name("mlx", apple_silicon=False, has_mlx=True)
    with pytest.raises(TrainingError, match="pip install mlx-lm"):
        backend_name("mlx", apple_silicon=True, has_mlx=False)
    with pytest.raises(TrainingError, match="auto, peft, mlx"):
        backend_name("jax")
    assert choose_backend("auto").name == "peft"  # this machine: Linux, no mlx


def test_examples_convert_to_mlx_tokens_and_prompt_offset():
    example = {"input_ids": [1, 2, 3, 4, 5], "labels": [-100, -100, 3, 4, 5]}
    assert to_mlx_example(example) == ([1, 2, 3, 4, 5], 2)
    dataset = MlxDataset([example, {"input_ids": [7, 8], "labels": [7, 8]}])
    assert len(dataset) == 2 and dataset[1] == ([7, 8], 0) and dataset.process(dataset[0]) == dataset[0]
    with pytest.raises(ValueError, match="prompt prefix"):
        to_mlx_example({"input_ids": [1, 2, 3], "labels": [-100, 2, -100]})


def test_lora_settings_convert_to_mlx():
    params = mlx_lora_parameters(TrainingSettings(lora_rank=8, lora_alpha=32, target_modules=["q_proj", "up_proj"]))
    assert params == {"rank": 8, "scale": 4.0, "dropout": 0.05, "keys": ["self_attn.q_proj", "mlp.up_proj"]}
    assert "keys" not in mlx_lora_parameters(TrainingSettings(target_modules=["all-linear"]))
    assert mlx_adapter_config(TrainingSettings(), "m")["fine_tune_type"] == "lora"


EVENTS = [
    {"event": "start", "total_steps": 3},
    {
        "event": "step",
        "step": 1,
        "total_steps": 3,
        "loss": 2.5,
        "lr": 1e-3,
        "tokens_per_second": 200.0,
        "eta_seconds": 2.0,
        "epoch": 0.3,
    },
    {"event": "eval", "step": 1, "valid_loss": float("nan"), "best": None, "improved": False},
    {
        "event": "step",
        "step": 3,
        "total_steps": 3,
        "loss": 2.0,
        "lr": 0.0,
        "tokens_per_second": 210.0,
        "eta_seconds": 0.0,
        "epoch": 1.0,
    },
    {"event": "end", "stopped": "completed", "step": 3},
]


def test_json_lines_progress_writes_one_valid_object_per_line():
    stream = io.StringIO()
    for event in EVENTS:
        JsonLinesProgress(stream)(event)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["start", "step", "eval", "step", "end"]
    assert json.loads(lines[2])["valid_loss"] is None  # NaN is not JSON


def test_progress_bar_and_fan_out():
    stream, recorder = io.StringIO(), RecordingProgress()
    bar = TqdmProgress(stream, mininterval=0)
    send = fan_out(bar, recorder, None)
    for event in EVENTS[:2] + EVENTS[3:4]:
        send(event)
    assert bar.bar.n == 3 and "loss=2.000" in str(bar.bar)
    send(EVENTS[-1])
    assert bar.bar is None and "3/3" in stream.getvalue() and len(recorder.of("step")) == 2
    send({"event": "phase", "phase": "gate"})
    assert stream.getvalue().endswith("gate...\n")


def test_best_adapter_is_swapped_in_whole_and_private(tmp_path: Path):
    out = tmp_path / "run"

    def write(content: str):
        return lambda folder: (folder / "adapter_model.safetensors").write_text(content)

    first = save_best(out, write("one"), {"step": 1})
    save_best(out, write("two"), {"step": 2})
    assert (first / "adapter_model.safetensors").read_text() == "two"
    assert json.loads((first / "training_state.json").read_text()) == {"step": 2}
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(first / "adapter_model.safetensors").st_mode) == 0o600

    def broken(folder: Path):
        (folder / "adapter_model.safetensors").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        save_best(out, broken, {"step": 3})
    assert (first / "adapter_model.safetensors").read_text() == "two"
    assert sorted(p.name for p in out.iterdir()) == ["best"]
    (out / ".best.partial").mkdir()
    discard_partial(out)
    assert sorted(p.name for p in out.iterdir()) == ["best"]
    (out / "best").rename(out / ".best.old")  # killed between the two renames of a swap
    discard_partial(out)
    assert (out / "best" / "adapter_model.safetensors").read_text() == "two"


def test_train_command_overrides_only_the_options_given():
    """Real click parsing: a flag reaches the job's overrides only when the user typed it."""
    from voiced.cli.options import given_options
    from voiced.cli.train_cmds import TRAINING_OVERRIDES, train_command

    def overrides(*args: str) -> dict:
        return given_options(train_command.make_context("train", list(args)), TRAINING_OVERRIDES)

    assert overrides() == {}
    assert overrides("--max-steps", "5") == {"max_steps": 5}
    assert overrides("--max-minutes", "0.5", "--voice", "v", "--progress-json") == {"max_minutes": 0.5}
    assert set(TRAINING_OVERRIDES.values()) <= {f for f in TrainingSettings.__dataclass_fields__}


def test_train_without_setup_says_what_to_do():
    from process_support import run_voiced

    result = run_voiced("train", "--max-steps", "1", check=False)
    assert result.returncode == 1 and "voiced init" in result.stderr and "Traceback" not in result.stderr
