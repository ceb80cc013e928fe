"""The engine serves the registry's active version, whoever changed it, and survives a damaged adapter.

Real engine on the embedded model, real registry folders under the test's
VOICED_HOME; the registry is changed with the Registry API, as `voiced
adapters activate|rollback` does, without telling the engine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from adapter_support import add_version, damage, misshapen_gguf, strong_adapter
from engine_support import GREEDY, TEXT, embedded_config
from process_support import wait_for

from voiced.inference.engine import Engine
from voiced.registry import Registry
from voiced.trainer.serving import rebuild_gguf


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {"one": strong_adapter(root / "one", seed=1), "two": strong_adapter(root / "two", seed=2)}


@pytest.fixture(scope="module")
def reference(adapters: dict[str, Path]) -> dict[str, str]:
    """Greedy rewrites by fresh engines: the base alone, and each adapter's GGUF LoRA."""
    outputs = {}
    for name, folder in (("base", None), ("one", adapters["one"]), ("two", adapters["two"])):
        gguf = folder / "adapter.gguf" if folder else None
        with Engine(embedded_config(), adapter_resolver=lambda voice, gguf=gguf: gguf) as engine:
            outputs[name] = engine.rewrite("default", TEXT, GREEDY)
    assert len(set(outputs.values())) == 3, outputs  # each adapter visibly changes the rewrite
    return outputs


def test_a_registry_change_behind_the_engines_back_is_served_at_the_next_request(
    adapters: dict[str, Path], reference: dict[str, str]
) -> None:
    one, two = add_version("default", adapters["one"]), add_version("default", adapters["two"])
    registry = Registry.open("default")
    registry.activate(one)
    with Engine(embedded_config(), rebuild_gguf=rebuild_gguf) as engine:
        assert engine.rewrite("default", TEXT, GREEDY) == reference["one"]
        model = engine._workers["default"].backend.llm
        registry.activate(two)  # what `voiced adapters activate 2` does: the engine is not told
        assert engine.rewrite("default", TEXT, GREEDY) == reference["two"]
        status = engine.status()["default"]
        assert status.adapter_version == status.registry_version == two and status.notice is None
        assert status.adapter == str(registry.get(two).gguf_path)
        assert registry.rollback() == one
        assert engine.rewrite("default", TEXT, GREEDY) == reference["one"]
        assert registry.rollback() is None  # back to the base model
        assert engine.rewrite("default", TEXT, GREEDY) == reference["base"]
        assert engine.status()["default"].adapter_version is None
        assert engine._workers["default"].backend.llm is model  # swapped, never reloaded


def test_refresh_serves_the_new_active_version_before_any_request(
    adapters: dict[str, Path], reference: dict[str, str]
) -> None:
    one = add_version("default", adapters["one"])
    with Engine(embedded_config(), rebuild_gguf=rebuild_gguf) as engine:
        engine.load("default")
        assert engine.status()["default"].adapter_version is None
        Registry.open("default").activate(one)
        assert engine.status()["default"].registry_changed is True  # noticed, applied at the next request
        status = engine.refresh("default")
        assert status.adapter_version == one and status.registry_changed is False
        assert engine.rewrite("default", TEXT, GREEDY) == reference["one"]


def test_a_damaged_gguf_lora_is_served_by_the_base_then_rebuilt_from_peft(
    adapters: dict[str, Path], reference: dict[str, str]
) -> None:
    one = add_version("default", adapters["one"])
    registry = Registry.open("default")
    registry.activate(one)
    gguf = registry.get(one).gguf_path
    damage(gguf)
    with Engine(embedded_config(), rebuild_gguf=rebuild_gguf) as engine:
        stream = engine.stream_rewrite("default", TEXT, GREEDY)
        assert "".join(stream) == reference["base"]  # the voice stays usable
        assert f"v{one}" in stream.notice and "damaged" in stream.notice and str(gguf) in stream.notice
        assert engine.status()["default"].rebuild.version == one
        wait_for(
            lambda: engine.status()["default"].adapter_version == one,
            "the rebuilt adapter to be served",
            timeout=120,
        )
        status = engine.status()["default"]
        assert status.notice is None and status.rebuild.state == "done"
        assert (gguf.stat().st_mode & 0o777) == 0o600
        registry.get(one).validate("llama.cpp")  # the rebuilt file passes the registry's own check
        stream = engine.stream_rewrite("default", TEXT, GREEDY)
        assert "".join(stream) == reference["one"] and stream.notice is None
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".tmp-")]  # no scratch left behind


def test_a_gguf_lora_llama_cpp_refuses_is_rebuilt_from_peft_too(
    adapters: dict[str, Path], reference: dict[str, str]
) -> None:
    one = add_version("default", adapters["one"])
    registry = Registry.open("default")
    registry.activate(one)
    misshapen_gguf(registry.get(one).gguf_path)
    registry.get(one).validate("llama.cpp")  # it looks whole: only llama.cpp can tell
    with Engine(embedded_config(), rebuild_gguf=rebuild_gguf) as engine:
        stream = engine.stream_rewrite("default", TEXT, GREEDY)
        assert "".join(stream) == reference["base"] and "rebuilt from the intact PEFT adapter" in stream.notice
        wait_for(
            lambda: engine.status()["default"].adapter_version == one,
            "the rebuilt adapter to be served",
            timeout=120,
        )
        assert engine.rewrite("default", TEXT, GREEDY) == reference["one"]


def test_damaged_gguf_and_peft_serve_the_base_and_say_what_works(
    adapters: dict[str, Path], reference: dict[str, str]
) -> None:
    one = add_version("default", adapters["one"])
    registry = Registry.open("default")
    registry.activate(one)
    damage(registry.get(one).gguf_path)
    damage(registry.get(one).path / "adapter_model.safetensors")
    with Engine(embedded_config(), rebuild_gguf=rebuild_gguf) as engine:
        stream = engine.stream_rewrite("default", TEXT, GREEDY)
        assert "".join(stream) == reference["base"]
        notice = stream.notice
        assert "voiced adapters rollback" in notice and "voiced adapters activate" in notice
        assert "voiced adapters export" not in notice
        status = engine.status()["default"]
        assert status.adapter_version is None and status.registry_version == one
        assert status.notice == notice and status.rebuild is None
        # the writer repairs it by hand (here: a good copy): noticed at the next request, no restart
        for name in ("adapter_model.safetensors", "adapter.gguf"):
            tmp = registry.get(one).path / f".tmp-{name}"
            shutil.copyfile(adapters["one"] / name, tmp)
            os.replace(tmp, registry.get(one).path / name)
        assert engine.rewrite("default", TEXT, GREEDY) == reference["one"]
        assert engine.status()["default"].notice is None


def test_an_adapter_trained_on_another_base_is_not_applied(
    adapters: dict[str, Path], reference: dict[str, str], tmp_path: Path
) -> None:
    """After the voice's base changes (`voiced models use`), its old adapter would be noise on the new
    weights: the base serves, and the notice says why and what to do. The same base written as a path
    is the same base."""
    from voiced.models import embedded_model_path

    other = tmp_path / "other.gguf"
    shutil.copyfile(embedded_model_path(), other)  # another file: another base, as far as a setting can tell
    registry = Registry.open("default")
    for trained_on, served in ((str(other), reference["base"]), (str(embedded_model_path()), reference["one"])):
        version = registry.begin_version({"base_model": {"kind": "gguf", "id": trained_on}})
        source = adapters["one"]
        number = registry.finish_version(version, source, source / "adapter.gguf", {"status": "candidate"}).number
        registry.activate(number)
        with Engine(embedded_config()) as engine:
            assert engine.rewrite("default", TEXT, GREEDY) == served
            status = engine.status()["default"]
        if served == reference["base"]:
            assert status.adapter is None and status.registry_version == number
            assert f"trained on base {trained_on!r}" in status.notice and "voiced train default" in status.notice
        else:
            assert status.adapter_version == number and status.notice is None
