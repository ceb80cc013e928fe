"""The setup commands end to end, as a user runs them."""

from __future__ import annotations

import stat

import tomllib
from data_support import DEMO_CORPUS
from process_support import run_voiced

from voiced.paths import get_paths


def test_init_add_remove_voices(tmp_path):
    first = run_voiced("init")
    assert "Created" in first.stdout
    again = run_voiced("init")
    assert "nothing changed" in again.stdout

    notes = tmp_path / "notes"
    notes.mkdir()
    run_voiced("add", str(notes))
    config_file = get_paths().config_file
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert tomllib.loads(config_file.read_text())["voices"]["default"]["folders"] == [str(notes.resolve())]

    duplicate = run_voiced("add", str(notes), check=False)
    assert duplicate.returncode == 1 and "already a folder" in duplicate.stderr
    (notes / "sub").mkdir()
    overlap = run_voiced("add", str(notes / "sub"), check=False)
    assert overlap.returncode == 1 and "overlaps" in overlap.stderr
    assert "Traceback" not in overlap.stderr

    run_voiced("voices", "create", "essays", "--system-prompt", "Dry and exact.")
    essays = tmp_path / "essays"
    essays.mkdir()
    run_voiced("add", str(essays), "--voice", "essays")
    listing = run_voiced("voices").stdout
    assert "essays" in listing and "Dry and exact." in listing and str(essays.resolve()) in listing

    run_voiced("remove", str(notes))
    assert tomllib.loads(config_file.read_text())["voices"]["default"]["folders"] == []
    missing = run_voiced("remove", str(notes), check=False)
    assert missing.returncode == 1 and "not a folder of any voice" in missing.stderr


def test_commands_before_init_say_what_to_do():
    result = run_voiced("voices", check=False)
    assert result.returncode == 1
    assert "voiced init" in result.stderr and "Traceback" not in result.stderr


def test_unknown_voice_is_a_clear_error():
    run_voiced("init")
    result = run_voiced("add", str(DEMO_CORPUS), "--voice", "nobody", check=False)
    assert result.returncode == 1 and "no voice named 'nobody'" in result.stderr


def test_invalid_config_names_the_key():
    run_voiced("init")
    config_file = get_paths().config_file
    config_file.write_text(config_file.read_text() + "\n[extraction]\nmax_file_bytes = 'big'\n")
    result = run_voiced("voices", check=False)
    assert result.returncode == 1
    assert "`extraction.max_file_bytes` must be an integer" in result.stderr


def test_config_defaults_lists_every_section():
    out = run_voiced("config", "defaults").stdout
    for section in ("[extraction]", "[watch]", "[dataset]", "[training]", "[voices.NAME]"):
        assert section in out


def test_doctor_passes_on_a_working_install():
    run_voiced("init")
    run_voiced("add", str(DEMO_CORPUS))
    result = run_voiced("doctor", check=False)
    assert "[ok] embedded model" in result.stdout
    assert "[ok] llama.cpp: loaded and decoded" in result.stdout, result.stdout + result.stderr
    assert "[ok] torch" in result.stdout
    assert result.returncode == 0, result.stdout


def test_doctor_reports_missing_setup():
    result = run_voiced("doctor", check=False)
    assert result.returncode == 1
    assert "[FAIL] configuration" in result.stdout and "voiced init" in result.stdout
