"""A version names each runtime's artifact and can say which of its files is broken; the pointer
survives damage; a rejected version made active keeps its verdict. Real registry files throughout."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from adapter_support import finish, peft_adapter, real_adapter

from voiced.registry import (
    ACTIVE,
    MANIFEST,
    CorruptAdapter,
    NotFound,
    NotUsable,
    Registry,
    RegistryError,
)


def test_finish_records_each_runtimes_artifact(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    with_gguf = finish(registry, real_adapter(tmp_path / "a"))
    assert with_gguf.manifest.artifacts == {"transformers": ".", "llama.cpp": "adapter.gguf"}
    assert with_gguf.artifact("llama.cpp") == with_gguf.path / "adapter.gguf"
    assert with_gguf.artifact("transformers") == with_gguf.path
    assert with_gguf.artifact("mlx") is None
    with pytest.raises(ValueError, match="unknown runtime"):
        with_gguf.artifact("vllm-ish")


def test_older_manifests_get_their_artifacts_from_the_files(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = finish(registry, real_adapter(tmp_path / "a"))
    manifest = json.loads((version.path / MANIFEST).read_text())
    del manifest["artifacts"]
    (version.path / MANIFEST).write_text(json.dumps(manifest))
    again = registry.get(version.number)
    assert again.artifact("llama.cpp") == again.path / "adapter.gguf"
    assert again.artifact("transformers") == again.path
    # A GGUF base always had a GGUF LoRA: once deleted, it is named as missing rather than silently absent.
    (again.path / "adapter.gguf").unlink()
    with pytest.raises(CorruptAdapter, match="adapter.gguf: the file is missing") as caught:
        registry.get(version.number).validate("llama.cpp")
    assert caught.value.path == again.path / "adapter.gguf" and caught.value.runtime == "llama.cpp"


def test_validate_names_the_broken_file_and_is_cheap(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = finish(registry, real_adapter(tmp_path / "a"))
    started = time.perf_counter()
    for _ in range(20):
        version.validate()
    assert (time.perf_counter() - started) / 20 < 0.05  # milliseconds: the daemon runs it at every load

    gguf = version.path / "adapter.gguf"
    gguf.write_bytes(gguf.read_bytes()[:300])  # a truncated file
    with pytest.raises(CorruptAdapter, match=r"llama.cpp adapter of v1 is damaged: .*adapter.gguf") as caught:
        version.validate("llama.cpp")
    assert caught.value.path == gguf and "activate 1" in caught.value.fix  # it is rebuilt from PEFT
    version.validate("transformers")  # the PEFT source is still intact

    (version.path / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CorruptAdapter, match="adapter_model.safetensors: not a readable safetensors file"):
        version.validate("transformers")
    (version.path / "adapter_config.json").write_text("{not json")
    with pytest.raises(CorruptAdapter, match="adapter_config.json: not readable JSON"):
        version.validate("transformers")


def test_a_gguf_that_is_not_a_lora_and_a_lora_without_partners_are_refused(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    from voiced.adapter_check import AdapterDamaged, check_gguf_lora, check_peft_folder
    from voiced.models import embedded_model_path

    with pytest.raises(AdapterDamaged, match="general.type is 'model', not 'adapter'"):
        check_gguf_lora(embedded_model_path())
    folder = peft_adapter(tmp_path / "p")
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    tensors = {k: v for k, v in tensors.items() if "v_proj.lora_B" not in k}
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    with pytest.raises(AdapterDamaged, match="lacks its partner"):
        check_peft_folder(folder)


def test_activate_for_a_runtime_refuses_a_damaged_version_and_keeps_the_pointer(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    good = finish(registry, real_adapter(tmp_path / "a"))
    bad = finish(registry, real_adapter(tmp_path / "b", seed=1))
    registry.activate(good.number, runtime="llama.cpp")
    (bad.path / "adapter.gguf").write_bytes(b"GGUF broken")
    before = registry.pointer_path.read_bytes()
    with pytest.raises(CorruptAdapter):
        registry.activate(bad.number, runtime="llama.cpp")
    assert registry.pointer_path.read_bytes() == before and registry.active_version() == good.number
    # the transformers runtime loads the PEFT folder, which is intact
    registry.activate(bad.number, runtime="transformers")
    assert registry.active_version() == bad.number


def test_error_types_say_what_went_wrong(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    with pytest.raises(NotFound):
        registry.get(3)
    with pytest.raises(NotFound):
        registry.rollback()
    failed = registry.begin_version({})
    registry.mark_failed(failed.number, "out of memory")
    with pytest.raises(NotUsable, match="out of memory"):
        registry.activate(failed.number)
    assert issubclass(CorruptAdapter, RegistryError)


def test_a_rejected_version_made_active_keeps_its_rejection(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    first = finish(registry, real_adapter(tmp_path / "a"))
    rejected = finish(
        registry,
        real_adapter(tmp_path / "b", seed=1),
        "rejected",
        reason="test NLL 2.5 is not better than active v1's 2.3",
    )
    registry.activate(first.number)
    registry.activate(rejected.number)
    now = registry.get(rejected.number)
    assert now.status == "active" and now.verdict == "rejected"
    assert json.loads((now.path / MANIFEST).read_text())["status"] == "rejected"
    assert now.reason == "test NLL 2.5 is not better than active v1's 2.3"
    assert registry.rollback() == first.number
    back = registry.get(rejected.number)
    assert back.status == "rejected" and back.reason.startswith("test NLL 2.5")


def _three_versions(tmp_path: Path) -> Registry:
    registry = Registry.open("austen")
    for name in "abc":
        finish(registry, real_adapter(tmp_path / name))
    return registry


def test_a_corrupt_pointer_is_rebuilt_from_the_manifests(tmp_path: Path) -> None:
    registry = _three_versions(tmp_path)
    registry.activate(1)
    registry.activate(3)
    registry.activate(2)
    registry.rollback()  # back to v3, history [None, 1]
    registry.pointer_path.write_text('{"version": 3, "hist')  # torn by hand or by a broken disk
    readers = Registry.open("austen", recover=False)
    assert readers.active_version() == 3 and readers.history() == [None, 1]  # no write, no crash
    assert readers.pointer_path.read_text().endswith("hist")
    reopened = Registry.open("austen")
    assert reopened.active_version() == 3 and reopened.history() == [None, 1]
    assert any("active.json is unreadable" in note and "rebuilt" in note for note in reopened.notes)
    assert json.loads(reopened.pointer_path.read_text())["version"] == 3  # written back whole
    assert reopened.rollback() == 1 and reopened.rollback() is None


def test_a_deleted_pointer_is_rebuilt_and_removed_versions_drop_out(tmp_path: Path) -> None:
    registry = _three_versions(tmp_path)
    registry.activate(1)
    registry.activate(2)
    registry.activate(3)
    registry.remove(3, force=True)  # the newest copy lived in v3's manifest: the removal writes another
    os.unlink(registry.pointer_path)
    reopened = Registry.open("austen")
    assert reopened.active_version() == 2 and reopened.history() == [None, 1]
    assert any("is missing" in note for note in reopened.notes)


def test_a_new_voice_without_pointer_is_not_a_recovery(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    finish(registry, real_adapter(tmp_path / "a"))
    assert registry.active_version() is None and registry.notes == []
    assert not (registry.root / ACTIVE).exists()
