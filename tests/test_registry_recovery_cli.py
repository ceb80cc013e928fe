"""`voiced adapters ...` and `voiced status` on a damaged registry, without a daemon: the real CLI in a
subprocess. A torn active.json is rebuilt from the manifests; a damaged adapter is refused (or rebuilt
from its PEFT source) before the pointer moves; a rejected version made active stays rejected."""

from __future__ import annotations

import json
from pathlib import Path

from adapter_support import finish, real_adapter
from process_support import run_voiced

from voiced.config import Config, VoiceConfig, save_config
from voiced.registry import MANIFEST, Registry


def three_versions(tmp_path: Path) -> Registry:
    save_config(Config(voices={"austen": VoiceConfig(name="austen")}))
    registry = Registry.open("austen")
    finish(registry, real_adapter(tmp_path / "a"))
    finish(
        registry,
        real_adapter(tmp_path / "b", seed=1),
        "rejected",
        reason="test NLL 2.520 is not better than active v1's 2.310",
    )
    finish(registry, real_adapter(tmp_path / "c"))
    registry.activate(1)
    registry.activate(3)
    return registry


def test_a_torn_pointer_is_rebuilt_and_every_command_works(tmp_path: Path) -> None:
    registry = three_versions(tmp_path)
    registry.pointer_path.write_text('{"version": 3, "history": [nu')
    status = run_voiced("status")  # opens the registry read-only: rebuilt in memory, no crash
    assert "Traceback" not in status.stderr
    listed = run_voiced("adapters", "list")
    assert "Traceback" not in listed.stderr
    assert "active.json is unreadable" in listed.stderr and "rebuilt it from the versions' manifests" in listed.stderr
    assert "active adapter v3" in listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:] if line.split()[0].startswith("v")] == [
        ["v1", "candidate"],
        ["v2", "rejected"],
        ["v3", "active"],
    ]
    assert json.loads(registry.pointer_path.read_text())["version"] == 3  # written back whole
    assert "now uses v1" in run_voiced("adapters", "rollback").stdout
    assert "v2 is now the active adapter" in run_voiced("adapters", "activate", "2").stdout


def test_activating_a_rejected_version_keeps_its_rejection(tmp_path: Path) -> None:
    three_versions(tmp_path)
    run_voiced("adapters", "activate", "2")
    listed = run_voiced("adapters", "list").stdout
    assert "v2" in listed and "rejected: test NLL 2.520 is not better than active v1's 2.310" in listed
    as_json = {v["version"]: v for v in json.loads(run_voiced("adapters", "list", "--json").stdout)}
    assert as_json[2]["status"] == "active" and as_json[2]["verdict"] == "rejected"
    manifest = json.loads((Registry.open("austen").get(2).path / MANIFEST).read_text())
    assert manifest["status"] == "rejected" and manifest["reason"].startswith("test NLL 2.520")


def test_a_damaged_version_is_refused_and_the_pointer_stays(tmp_path: Path) -> None:
    registry = three_versions(tmp_path)
    version = registry.get(1)
    (version.path / "adapter.gguf").write_bytes(b"GGUF" + b"\x07" * 200)
    (version.path / "adapter_model.safetensors").write_bytes(b"\x00" * 100)
    before = registry.pointer_path.read_bytes()
    refused = run_voiced("adapters", "activate", "1", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "v1 is damaged" in refused.stderr and "adapter.gguf" in refused.stderr
    assert "voiced adapters rollback" in refused.stderr  # advice that works, not `export`
    assert registry.pointer_path.read_bytes() == before
    refused = run_voiced("adapters", "rollback", check=False)  # the history's v1 is the same file
    assert refused.returncode == 1 and "v1 is damaged" in refused.stderr
    assert Registry.open("austen").active_version() == 3


def test_a_damaged_gguf_with_an_intact_peft_source_is_rebuilt_on_activation(tmp_path: Path) -> None:
    registry = three_versions(tmp_path)
    gguf = registry.get(1).path / "adapter.gguf"
    good = gguf.read_bytes()
    gguf.write_bytes(good[:400])
    done = run_voiced("adapters", "activate", "1")
    assert "v1 is now the active adapter" in done.stdout
    assert "rebuilt from the intact PEFT adapter" in done.stderr
    assert gguf.read_bytes() == good  # the same export as the original
    Registry.open("austen").get(1).validate("llama.cpp")


def test_export_rebuilds_a_damaged_gguf_and_refuses_a_damaged_source(tmp_path: Path) -> None:
    registry = three_versions(tmp_path)
    version = registry.get(1)
    good = (version.path / "adapter.gguf").read_bytes()
    (version.path / "adapter.gguf").write_bytes(good[:400])
    out = tmp_path / "out"
    run_voiced("adapters", "export", "1", "--out", str(out), "--no-merged")
    assert (out / "ollama" / "adapter.gguf").read_bytes() == good  # not a copy of the damaged file

    (version.path / "adapter_model.safetensors").write_bytes(b"\x00" * 80)
    refused = run_voiced("adapters", "export", "1", "--out", str(tmp_path / "out2"), "--no-merged", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "adapter_model.safetensors" in refused.stderr and "cannot be rebuilt" in refused.stderr
    assert not (tmp_path / "out2").exists()
