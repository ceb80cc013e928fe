"""Configuration: defaults in one place, validation that names the key and the fix."""

from __future__ import annotations

import dataclasses
import stat
import typing

import click
import pytest
from click.testing import CliRunner

from voiced.cli.options import apply_overrides, given_options
from voiced.config import (
    _SETTINGS_SECTIONS,
    Config,
    ConfigError,
    ExtractionSettings,
    VoiceConfig,
    bounds_of,
    config_from_dict,
    load_config,
    save_config,
    settings_defaults,
)
from voiced.paths import get_paths


def test_paths_follow_voiced_home(voiced_home):
    paths = get_paths()
    for directory in (paths.config_dir, paths.data_dir, paths.state_dir, paths.cache_dir):
        assert directory.is_relative_to(voiced_home)


def test_round_trip_keeps_voices_and_changed_settings():
    config = Config(voices={"essays": VoiceConfig(name="essays", folders=["/tmp/x"], exclude=["drafts/"])})
    config.extraction.min_passage_words = 9
    path = save_config(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_config()
    assert loaded.voices["essays"].folders == ["/tmp/x"]
    assert loaded.voices["essays"].exclude == ["drafts/"]
    assert loaded.extraction.min_passage_words == 9
    assert loaded.extraction.max_file_bytes == ExtractionSettings().max_file_bytes
    # Unchanged settings are not written, so new defaults reach old files.
    assert "max_file_bytes" not in path.read_text()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"voices": {"a": {"folders": "notes"}}}, "voices.a.folders"),
        ({"voices": {"a": {"colour": "blue"}}}, "voices.a.colour"),
        ({"extraction": {"min_passage_words": "six"}}, "extraction.min_passage_words"),
        ({"extraction": {"min_passage_words": True}}, "extraction.min_passage_words"),
        ({"watch": {"debounce_seconds": "fast"}}, "watch.debounce_seconds"),
        ({"nonsense": {}}, "nonsense"),
        ({"evaluation": {"gate_mode": "vibes"}}, "evaluation.gate_mode"),
    ],
)
def test_invalid_values_name_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert f"`{key}`" in info.value.message
    assert info.value.fix


def test_integers_are_accepted_for_floats():
    config = config_from_dict({"watch": {"debounce_seconds": 1}})
    assert config.watch.debounce_seconds == 1.0


def test_bad_voice_name_and_bad_toml():
    with pytest.raises(ConfigError, match="Invalid voice name"):
        config_from_dict({"voices": {"has space": {}}})
    paths = get_paths()
    paths.ensure_private(paths.config_dir)
    paths.config_file.write_text("[voices.a\nfolders = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config()


def test_missing_config_says_run_init():
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "voiced init" in info.value.fix
    assert load_config(required=False).voices == {}


def test_voice_lookup():
    config = Config(voices={"a": VoiceConfig(name="a"), "b": VoiceConfig(name="b")})
    assert config.voice().name == "a"
    assert config.voice("b").name == "b"
    with pytest.raises(ConfigError, match="no voice named 'c'"):
        config.voice("c")
    with pytest.raises(ConfigError, match="No voice"):
        Config().voice()


def test_voice_for_path(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    config = Config(
        voices={
            "a": VoiceConfig(name="a", folders=[str(tmp_path / "a")]),
            "b": VoiceConfig(name="b", folders=[str(tmp_path / "b")]),
        }
    )
    assert config.voice_for_path(tmp_path / "a" / "sub" / "n.md").name == "a"
    assert config.voice_for_path(tmp_path / "b" / "n.md").name == "b"
    assert config.voice_for_path(tmp_path / "c.md") is None


def test_every_default_has_help():
    for section, rows in settings_defaults().items():
        for name, _default, help_text in rows:
            assert help_text, f"{section}.{name} has no help string"


def test_flags_override_only_when_given():
    """A flag's default never overrides the config file; a given flag always does."""
    settings = dataclasses.replace(ExtractionSettings(), min_passage_words=9)
    seen = {}

    @click.command()
    @click.option("--min-words", type=int, default=6)
    @click.pass_context
    def command(ctx, min_words):
        seen["settings"] = apply_overrides(settings, given_options(ctx, {"min_words": "min_passage_words"}))

    CliRunner().invoke(command, [], catch_exceptions=False)
    assert seen["settings"].min_passage_words == 9
    CliRunner().invoke(command, ["--min-words", "6"], catch_exceptions=False)
    assert seen["settings"].min_passage_words == 6


# -- ranges: declared next to each default, enforced at load and on the flags --------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"),
    [
        ("training", "batch_size", 0, "at least 1"),
        ("training", "lora_rank", 0, "at least 1"),
        ("daemon", "port", 70000, "from 0 to 65535"),
        ("daemon", "port", -1, "from 0 to 65535"),
        ("dataset", "valid_fraction", 2.0, "at least 0 and below 1"),
        ("dataset", "test_fraction", -0.1, "at least 0 and below 1"),
        ("inference", "temperature", -0.5, "at least 0"),
        ("inference", "top_p", 0, "above 0 and at most 1"),
        ("inference", "n_ctx", 16, "at least 256"),
        ("adapters", "child_niceness", 20, "from 0 to 19"),
        ("watch", "rescan_missing_seconds", 0, "above 0"),
    ],
)
def test_out_of_range_values_are_refused_at_load_naming_key_value_range_and_file(section, key, value, allowed):
    paths = get_paths()
    paths.ensure_private(paths.config_dir)
    paths.config_file.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config()
    message = info.value.message
    assert f"`{section}.{key}` must be {allowed}, not {value}" in message  # an int given for a float reads 0.0
    assert str(paths.config_file) in info.value.fix


def test_held_out_fractions_must_leave_documents_to_train_on():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"dataset": {"valid_fraction": 0.5, "test_fraction": 0.5}})
    assert "valid_fraction + test_fraction must be below 1" in info.value.message
    assert "`dataset.valid_fraction`" in info.value.fix
    assert config_from_dict({"dataset": {"valid_fraction": 0.45, "test_fraction": 0.5}}).dataset.test_fraction == 0.5


def test_bounds_are_inclusive_or_exclusive_as_declared():
    assert config_from_dict({"daemon": {"port": 0}}).daemon.port == 0
    assert config_from_dict({"daemon": {"port": 65535}}).daemon.port == 65535
    assert config_from_dict({"inference": {"top_p": 1.0, "temperature": 0}}).inference.top_p == 1.0
    assert config_from_dict({"dataset": {"valid_fraction": 0, "test_fraction": 0}}).dataset.valid_fraction == 0.0


def test_every_default_is_in_range_and_every_number_but_seeds_has_one():
    unbounded = []
    for section, cls in _SETTINGS_SECTIONS.items():
        cls()  # validates the defaults too
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (int, float) and not bounds_of(cls, f.name):
                unbounded.append(f"{section}.{f.name}")
    # A seed is any integer; a tolerance may be negative (it then demands a gain).
    assert sorted(unbounded) == ["dataset.seed", "evaluation.seed", "evaluation.voice_gate_tolerance", "training.seed"]


def test_flags_take_the_settings_range():
    from voiced.cli.options import setting_type
    from voiced.config import DaemonSettings, InferenceSettings, TrainingSettings

    port = setting_type(DaemonSettings, "port")
    assert port.convert("65535", None, None) == 65535
    with pytest.raises(click.BadParameter):
        port.convert("70000", None, None)
    with pytest.raises(click.BadParameter):
        setting_type(TrainingSettings, "max_steps").convert("-1", None, None)
    top_p = setting_type(InferenceSettings, "top_p")
    assert top_p.convert("1", None, None) == 1.0
    with pytest.raises(click.BadParameter):
        top_p.convert("0", None, None)  # an open bound
    assert setting_type(InferenceSettings, "seed").convert("-1", None, None) == -1


def test_overrides_are_range_checked_naming_their_section():
    from voiced.config import TrainingSettings

    assert apply_overrides(TrainingSettings(), {"batch_size": 2}).batch_size == 2
    with pytest.raises(ConfigError, match="`training.batch_size` must be at least 1, not 0"):
        apply_overrides(TrainingSettings(), {"batch_size": 0})
