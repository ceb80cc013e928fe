"""`voiced models`, `models use` and `models pull` as a user runs them: the real CLI in a subprocess, over
an Ollama store and a folder of one's own in a temporary home, and a fake hub on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
from hub_support import HubRepo, running_hub
from job_support import fake_adapter
from model_store_support import isolate_stores, ollama_model, tiny_hf_folder, write_gguf
from process_support import run_voiced

from voiced.config import EMBEDDED_MODEL, load_config, save_config
from voiced.paths import get_paths
from voiced.registry import Registry


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised voiced, an Ollama store with the embedded model, and `[models] folders` with an
    architecture nothing here can load and a file that is no model at all."""
    home = isolate_stores(monkeypatch, tmp_path / "home")
    ollama_model(home / ".ollama" / "models", "library", "smollm2", "135m")
    mine = tmp_path / "mine"
    write_gguf(mine / "rwkv.gguf", "rwkv6")
    (mine / "notes.gguf").write_text("not a model\n")
    run_voiced("init")
    config = load_config()
    config.models.folders = [str(mine)]
    save_config(config)
    return mine


def _base_model() -> str:
    return tomllib.loads(get_paths().config_file.read_text())["voices"]["default"]["base_model"]


def test_models_lists_every_model_with_verdicts_as_json_and_as_a_table(machine: Path) -> None:
    listed = {entry["name"]: entry for entry in json.loads(run_voiced("models", "--json").stdout)}
    assert set(listed) == {
        EMBEDDED_MODEL,
        "ollama:smollm2:135m",
        str(machine / "rwkv.gguf"),
        str(machine / "notes.gguf"),
    }
    smol = listed["ollama:smollm2:135m"]
    assert (smol["architecture"], smol["quantization"], smol["parameters"]) == ("llama", "Q4_1", 134_515_008)
    assert smol["chat_template"] and smol["can_train"] and smol["can_serve"] and smol["runtime"] == "llama.cpp"
    rwkv = listed[str(machine / "rwkv.gguf")]
    assert rwkv["can_train"] is False and "'rwkv6'" in rwkv["train_reason"]
    assert listed[str(machine / "notes.gguf")]["problem"].startswith("not a GGUF file")

    table = run_voiced("models").stdout
    header, smol_row = table.splitlines()[0], next(line for line in table.splitlines() if "ollama:smollm2" in line)
    assert header.split() == ["NAME", "ARCH", "PARAMS", "QUANT", "SIZE", "CHAT", "TRAIN", "SERVE"]
    assert smol_row.split() == [
        "ollama:smollm2:135m",
        "llama",
        "135M",
        "Q4_1",
        "93.8",
        "MiB",
        "yes",
        "yes",
        "yes",
        "(llama.cpp)",
    ]
    assert "cannot train: transformers cannot load the 'rwkv6' architecture" in table
    assert "not usable: not a GGUF file" in table
    assert f"folder {machine}" in table and "voiced models use NAME" in table


def test_models_use_sets_the_base_the_next_training_run_uses(machine: Path) -> None:
    used = run_voiced("models", "use", "ollama:smollm2:135m", "--voice", "default")
    assert "now has the base model ollama:smollm2:135m" in used.stdout and "next training run" in used.stdout
    assert "Warning" not in used.stdout
    assert _base_model() == "ollama:smollm2:135m"
    assert "nothing changed" in run_voiced("models", "use", "ollama:smollm2:135m").stdout

    missing = run_voiced("models", "use", "ollama:nosuch:1", check=False)
    assert missing.returncode == 1 and "no model named 'ollama:nosuch:1'" in missing.stderr
    assert "`voiced models`" in missing.stderr and "Traceback" not in missing.stderr
    refused = run_voiced("models", "use", str(machine / "rwkv.gguf"), check=False)
    assert refused.returncode == 1 and "voiced cannot train on" in refused.stderr and "'rwkv6'" in refused.stderr
    unknown_voice = run_voiced("models", "use", EMBEDDED_MODEL, "--voice", "nobody", check=False)
    assert unknown_voice.returncode == 1 and "no voice named 'nobody'" in unknown_voice.stderr
    assert _base_model() == "ollama:smollm2:135m"  # every refusal left the config as it was


def test_models_use_warns_when_the_voices_adapters_belong_to_another_base(machine: Path, tmp_path: Path) -> None:
    registry = Registry.open("default")
    version = registry.begin_version({"base_model": {"id": EMBEDDED_MODEL, "kind": "gguf"}})
    adapter = fake_adapter(tmp_path / "adapter")
    registry.finish_version(version, adapter, adapter / "adapter.gguf", {"status": "candidate"})
    registry.activate(version.number)

    used = run_voiced("models", "use", "ollama:smollm2:135m")
    assert f"the active adapter v{version.number} was trained on {EMBEDDED_MODEL}" in used.stdout
    assert "Train the voice again" in used.stdout
    back = run_voiced("models", "use", EMBEDDED_MODEL)  # the adapter's own base again: nothing to warn about
    assert "Warning" not in back.stdout and _base_model() == EMBEDDED_MODEL


def test_models_pull_downloads_into_the_cache_where_models_finds_it(
    machine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "tiny"
    tiny_hf_folder(folder)
    files = {entry.name: entry.read_bytes() for entry in folder.iterdir()}
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with running_hub({"acme/tiny": HubRepo(files)}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        pulled = run_voiced("models", "pull", "acme/tiny")
    assert "Downloaded acme/tiny (main)" in pulled.stdout and "voiced models use hf:acme/tiny" in pulled.stdout
    assert "acme/tiny" in pulled.stderr  # the progress bar
    listed = {entry["name"]: entry for entry in json.loads(run_voiced("models", "--json").stdout)}
    tiny = listed["hf:acme/tiny"]
    assert (tiny["source"], tiny["format"], tiny["architecture"], tiny["quantization"]) == (
        "hf-cache", "hf", "llama", "BF16"
    )  # fmt: skip
    assert tiny["can_train"] and tiny["chat_template"]
    run_voiced("models", "use", "hf:acme/tiny")
    assert _base_model() == "hf:acme/tiny"
