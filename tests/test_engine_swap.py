"""Adapter hot swap on the real embedded model: changes the output, swaps back, never fails a request."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from engine_support import GREEDY, TEXT, embedded_config, write_lora_gguf

from voiced.inference.engine import Engine, ModelLoadError


@pytest.fixture(scope="module")
def lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("adapter") / "versions" / "3"
    folder.mkdir(parents=True)
    return write_lora_gguf(folder / "adapter.gguf")


@pytest.fixture(scope="module")
def engine():
    with Engine(embedded_config(), adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        yield engine


@pytest.fixture(scope="module")
def outputs(engine: Engine, lora: Path) -> dict[str, str]:
    base = engine.rewrite("default", TEXT, GREEDY)
    engine.set_adapter("default", lora)
    adapted = engine.rewrite("default", TEXT, GREEDY)
    engine.set_adapter("default", None)
    return {"base": base, "adapted": adapted}


def test_adapter_changes_the_output_and_swapping_back_restores_it(
    engine: Engine, lora: Path, outputs: dict[str, str]
) -> None:
    model = engine._workers["default"].backend.llm
    assert outputs["base"].strip() and outputs["adapted"].strip()
    assert outputs["adapted"] != outputs["base"]
    engine.set_adapter("default", lora)
    assert engine.rewrite("default", TEXT, GREEDY) == outputs["adapted"]
    status = engine.status()["default"]
    assert status.adapter == str(lora) and status.adapter_version == 3 and status.loaded
    engine.set_adapter("default", None)
    assert engine.rewrite("default", TEXT, GREEDY) == outputs["base"]
    assert engine._workers["default"].backend.llm is model  # the base was never reloaded


def test_resolver_adapter_applies_at_load(lora: Path, outputs: dict[str, str]) -> None:
    with Engine(embedded_config(), adapter_resolver=lambda voice: lora) as engine:
        assert engine.rewrite("default", TEXT, GREEDY) == outputs["adapted"]


def test_swaps_under_concurrent_requests_never_fail_a_request(
    engine: Engine, lora: Path, outputs: dict[str, str]
) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def client() -> None:
        for _ in range(3):
            try:
                results.append(engine.rewrite("default", TEXT, GREEDY))
            except BaseException as exc:  # collected: the assertion below reports it
                errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    for swap in range(6):
        engine.set_adapter("default", lora if swap % 2 == 0 else None)
    for thread in threads:
        thread.join()
    engine.set_adapter("default", None)
    assert errors == []
    assert len(results) == 9
    # every request ran wholly on one adapter: its output is exactly one of the two
    assert set(results) <= {outputs["base"], outputs["adapted"]}


def test_a_bad_adapter_is_refused_and_the_old_one_stays(
    engine: Engine, lora: Path, tmp_path: Path, outputs: dict[str, str]
) -> None:
    engine.set_adapter("default", lora)
    bad = tmp_path / "adapter.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelLoadError, match="adapter"):
        engine.set_adapter("default", bad)
    with pytest.raises(ModelLoadError, match="does not exist"):
        engine.set_adapter("default", tmp_path / "missing.gguf")
    assert engine.status()["default"].adapter == str(lora)
    assert engine.rewrite("default", TEXT, GREEDY) == outputs["adapted"]
    engine.set_adapter("default", None)


def test_without_a_resolver_the_engine_serves_the_registrys_active_adapter(
    lora: Path, outputs: dict[str, str], tmp_path: Path
) -> None:
    from voiced.registry import Registry

    registry = Registry.open("default")
    version = registry.begin_version({"base_model": {"kind": "gguf"}})
    peft = tmp_path / "peft"
    peft.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (peft / name).write_bytes(b"{}")
    registry.finish_version(version, peft, lora, {"status": "candidate"})
    with Engine(embedded_config()) as engine:
        assert engine.rewrite("default", TEXT, GREEDY) == outputs["base"]  # finished but not promoted
        registry.activate(version.number)
        assert engine.rewrite("default", TEXT, GREEDY) == outputs["adapted"]
        status = engine.status()["default"]
        assert status.adapter_version == version.number and status.adapter == str(version.gguf_path)
