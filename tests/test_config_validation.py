"""Configuration is validated once, by pydantic, when it is built: from the file, from keywords, or by
``dataclasses.replace`` (the training overrides); and the callers take their defaults from it."""

from __future__ import annotations

import dataclasses
import inspect
import time
from pathlib import Path

import pytest
from process_support import wait_for

from voiced.config import (
    AdapterSettings,
    Config,
    ConfigError,
    DaemonSettings,
    DatasetSettings,
    InferenceSettings,
    TrainingSettings,
    VoiceConfig,
    daemon_settings,
    load_config,
    save_config,
)
from voiced.paths import get_paths


def write_config(text: str) -> Path:
    paths = get_paths()
    paths.ensure_private(paths.config_dir)
    paths.config_file.write_text(text, encoding="utf-8")
    return paths.config_file


def refusal(text: str) -> ConfigError:
    """The error ``load_config`` raises for a config file holding ``text``."""
    write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config()
    return info.value


def test_a_negative_temperature_is_refused_at_load_naming_file_key_value_and_range() -> None:
    error = refusal("[inference]\ntemperature = -1\n")
    assert "`inference.temperature` must be at least 0, not -1" in error.message
    assert str(get_paths().config_file) in error.fix and "`inference.temperature`" in error.fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[daemon]\nport = "8080"\n', "`daemon.port` must be an integer, not '8080'"),
        ("[training]\nepochs = 2.5\n", "`training.epochs` must be an integer, not 2.5"),
        ('[inference]\nguard = "yes"\n', "`inference.guard` must be true or false, not 'yes'"),
        ("[inference]\ntemperature = true\n", "`inference.temperature` must be a number, not True"),
        ("[editor]\nlanguages = [1]\n", "`editor.languages[0]` must be a string, not 1"),
        ('[training]\nbackend = "tpu"\n', "`training.backend` must be one of 'auto', 'peft' or 'mlx', not 'tpu'"),
    ],
)
def test_a_wrong_type_is_refused_at_load_not_converted(text: str, expected: str) -> None:
    assert expected in refusal(text).message


def test_a_nightly_time_that_is_not_a_time_of_day_is_refused_at_load_not_at_night() -> None:
    error = refusal('[scheduler]\nnightly_at = "25:00"\n')
    assert "`scheduler.nightly_at` must be a time of day as HH:MM (24-hour), not '25:00'" in error.message
    write_config('[scheduler]\nnightly_at = "3:30"\n')
    assert load_config().scheduler.nightly_at == "3:30"


def test_unknown_keys_sections_and_a_voice_named_twice_are_refused() -> None:
    error = refusal("[inference]\ntemprature = 0.2\n")
    assert "unknown key `inference.temprature`" in error.message and "temperature" in error.fix
    assert "unknown section `infrence`" in refusal("[infrence]\ntemperature = 0.2\n").message
    assert "unknown section `path`" in refusal('path = "/elsewhere"\n').message
    assert "unknown key `voices.a.name`" in refusal('[voices.a]\nname = "b"\n').message
    assert "`voices.a` must be a table" in refusal("voices.a = 3\n").message


def test_every_problem_in_a_section_is_named_at_once() -> None:
    error = refusal("[inference]\ntop_p = 0\nn_ctx = 16\nrepeat_penalty = 0\n")
    for part in (
        "`inference.top_p` must be above 0 and at most 1, not 0",
        "`inference.n_ctx` must be at least 256, not 16",
        "`inference.repeat_penalty` must be above 0, not 0",
    ):
        assert part in error.message


@pytest.mark.parametrize(
    ("text", "expected", "key"),
    [
        (
            "[extraction]\nmin_passage_words = 50\nmax_passage_words = 40\n",
            "max_passage_words must be at least min_passage_words, not 40 < 50",
            "extraction.max_passage_words",
        ),
        (
            "[inference]\nguard_min_length_ratio = 1.2\nguard_max_length_ratio = 1.1\n",
            "guard_min_length_ratio must be below guard_max_length_ratio, not 1.2 >= 1.1",
            "inference.guard_min_length_ratio",
        ),
        (
            "[daemon]\nstop_timeout_seconds = 0\n",
            "`daemon.stop_timeout_seconds` must be above 0, not 0",
            "daemon.stop_timeout_seconds",
        ),
    ],
)
def test_settings_that_contradict_each_other_or_wait_no_time_are_refused(text: str, expected: str, key: str) -> None:
    error = refusal(text)
    assert expected in error.message and f"`{key}`" in error.fix


def test_a_valid_file_round_trips_and_keeps_its_path() -> None:
    path = write_config('[voices.essays]\nfolders = ["/tmp/x"]\n[inference]\ntemperature = 0\ntop_p = 1\n')
    config = load_config()
    assert config.path == path and config.voices["essays"].name == "essays"
    assert (config.inference.temperature, config.inference.top_p) == (0.0, 1.0)
    assert isinstance(config.inference.temperature, float)  # the integer in the file is a number here


def test_building_or_replacing_a_section_validates_it_too() -> None:
    with pytest.raises(ConfigError, match="`training.batch_size` must be at least 1, not 0"):
        dataclasses.replace(TrainingSettings(), batch_size=0)
    with pytest.raises(ConfigError, match="`inference.top_p` must be above 0 and at most 1, not 1.5"):
        InferenceSettings(top_p=1.5)
    with pytest.raises(ConfigError, match="unknown key `training.max_step`"):
        dataclasses.replace(TrainingSettings(), **{"max_step": 3})
    with pytest.raises(ConfigError, match="valid_fraction \\+ test_fraction must be below 1"):
        dataclasses.replace(DatasetSettings(), valid_fraction=0.6, test_fraction=0.4)
    assert dataclasses.replace(TrainingSettings(), max_steps=3).max_steps == 3
    assert dataclasses.asdict(TrainingSettings())["batch_size"] == TrainingSettings().batch_size


def test_a_training_override_out_of_range_fails_before_the_job_starts(tmp_path: Path) -> None:
    from voiced.daemon.training_job import run_training_job
    from voiced.registry import Registry

    config = Config(voices={"v": VoiceConfig(name="v", folders=[str(tmp_path)])})
    save_config(config)
    with pytest.raises(ConfigError, match="`training.max_steps` must be at least 0, not -1"):
        run_training_job(config, "v", overrides={"max_steps": -1})
    with pytest.raises(ConfigError, match="unknown key `training.steps`"):
        run_training_job(config, "v", overrides={"steps": 5})
    assert Registry.open("v").versions() == []  # nothing was started


def test_the_daemon_settings_fall_back_to_the_defaults_when_the_file_is_broken() -> None:
    write_config("[daemon]\nstart_timeout_seconds = 7.5\nstop_timeout_seconds = 2\n")
    assert (daemon_settings().start_timeout_seconds, daemon_settings().stop_timeout_seconds) == (7.5, 2.0)
    write_config("[daemon]\nstart_timeout_seconds = -1\n")
    assert daemon_settings() == DaemonSettings()


def test_starting_the_daemon_waits_the_configured_time_when_no_timeout_is_given() -> None:
    """The daemon below refuses its non-loopback host after its imports (a second or more); start_daemon gives
    up after the configured 0.3 s first, where a fixed default would wait for the child to exit."""
    from voiced.daemon.process import DaemonProcessError, start_daemon
    from voiced.daemon.state import log_path

    config = Config(voices={"v": VoiceConfig(name="v")})
    config.daemon.host = "0.0.0.0"
    config.daemon.start_timeout_seconds = 0.3
    save_config(config)
    started = time.monotonic()
    with pytest.raises(DaemonProcessError, match="did not answer within 0 s"):
        start_daemon()
    assert time.monotonic() - started < 5
    paths = get_paths()
    wait_for(
        lambda: "only listens on this machine" in log_path(paths).read_text(), "the child's own refusal", timeout=60
    )


def test_the_callers_defaults_are_the_configured_ones() -> None:
    from voiced.daemon.process import start_daemon, stop_daemon
    from voiced.evaluation.voice_gate import run_voice_gate
    from voiced.trainer.gate import response_nll, run_gate, score_adapters
    from voiced.trainer.roughen import roughen

    unset = [
        (start_daemon, "timeout"),
        (stop_daemon, "timeout"),
        (run_gate, "margin"),
        (run_gate, "batch_size"),
        (score_adapters, "batch_size"),
        (response_nll, "batch_size"),
        (run_voice_gate, "structural_noise"),
        (roughen, "structural_noise"),
    ]
    for function, name in unset:
        assert inspect.signature(function).parameters[name].default is None, f"{function.__name__}({name}=...)"
    # None means the configured value: an empty test split is decided without a model, with the default margin.
    result = run_gate(None, [], Path("/nonexistent"))
    assert result.margin == AdapterSettings().gate_min_margin and not result.promote
    text = "Anne walked to Uppercross on the 3rd of May, and the morning was very fine indeed."
    assert roughen(text, 5) == roughen(text, 5, structural_noise=DatasetSettings().structural_noise)


def test_config_defaults_says_what_each_setting_allows() -> None:
    from voiced.config import settings_defaults

    rows = {f"{section}.{name}": text for section, entries in settings_defaults().items() for name, _, text in entries}
    assert rows["inference.temperature"].endswith("Allowed: at least 0.")
    assert rows["inference.top_p"].endswith("Allowed: above 0 and at most 1.")
    assert rows["training.backend"].endswith("Allowed: 'auto', 'peft', 'mlx'.")
