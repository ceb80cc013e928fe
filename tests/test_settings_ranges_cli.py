"""Out-of-range settings fail at once, when the configuration is loaded: the real CLI in a subprocess
says which key, which value and which range, prints no traceback, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w
import tomllib
from job_support import make_voice
from process_support import run_voiced

from voiced.paths import get_paths
from voiced.registry import Registry
from voiced.trainer.dataset import dataset_dir


def set_setting(section: str, key: str, value) -> Path:
    """Edit the config file by hand, as a writer would (the file keeps its other settings)."""
    path = get_paths().config_file
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.setdefault(section, {})[key] = value
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def assert_clear_error(result, text: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert text in output, output
    assert "Traceback" not in output and "OverflowError" not in output, output


@pytest.mark.parametrize("key", ["batch_size", "lora_rank"])
def test_train_refuses_a_zero_setting_before_building_or_loading_anything(tmp_path: Path, key: str) -> None:
    make_voice(tmp_path)
    config_file = set_setting("training", key, 0)
    result = run_voiced("train", "--max-steps", "1", check=False)
    assert_clear_error(result, f"`training.{key}` must be at least 1, not 0")
    assert str(config_file) in result.stderr
    assert Registry.open("austen").versions() == []  # no failed version left behind
    assert not dataset_dir(get_paths().data_dir, "austen").exists()  # failed before the dataset build


def test_a_port_past_65535_is_refused_in_the_file_and_on_the_flag(tmp_path: Path) -> None:
    make_voice(tmp_path)
    set_setting("daemon", "port", 70000)
    assert_clear_error(run_voiced("daemon", "run", check=False), "`daemon.port` must be from 0 to 65535, not 70000")
    set_setting("daemon", "port", 0)
    flag = run_voiced("daemon", "run", "--port", "70000", check=False)
    assert_clear_error(flag, "70000 is not in the range 0<=x<=65535")
    assert flag.returncode == 2  # a usage error, before anything starts


def test_dataset_build_refuses_a_fraction_of_two(tmp_path: Path) -> None:
    make_voice(tmp_path)
    set_setting("dataset", "valid_fraction", 2.0)
    assert_clear_error(
        run_voiced("dataset", "build", check=False), "`dataset.valid_fraction` must be at least 0 and below 1, not 2.0"
    )
    assert not dataset_dir(get_paths().data_dir, "austen").exists()


def test_the_daemon_refuses_a_negative_temperature_at_start_instead_of_failing_every_request(tmp_path: Path) -> None:
    make_voice(tmp_path)
    config_file = set_setting("inference", "temperature", -1)
    result = run_voiced("daemon", "run", check=False)
    assert_clear_error(result, "`inference.temperature` must be at least 0, not -1")
    assert str(config_file) in result.stderr
