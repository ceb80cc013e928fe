"""The transformers + PEFT path of the engine, on a local Hugging Face folder made from the embedded model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import GREEDY, TEXT, embedded_config

from voiced.inference.engine import Engine, ModelLoadError


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded GGUF de-quantised and saved as safetensors, plus a PEFT adapter with random B."""
    from peft import LoraConfig, get_peft_model

    from voiced.config import EMBEDDED_MODEL
    from voiced.trainer.base_model import load_base_model

    root = tmp_path_factory.mktemp("hf")
    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    tokenizer.save_pretrained(root / "base")
    model.save_pretrained(root / "base", safe_serialization=True)
    # alpha/r = 16: strong enough that greedy decoding of a near-copy rewrite changes
    lora = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    version = root / "adapters" / "versions" / "1"
    lora.save_pretrained(version, safe_serialization=True)
    (version / "adapter.gguf").write_bytes(b"")  # the registry's layout; this backend reads the PEFT files
    return root


@pytest.mark.slow
def test_transformers_backend_streams_and_swaps_peft_adapters(hf_folder: Path) -> None:
    config = embedded_config(hf=str(hf_folder / "base"))
    params = replace(GREEDY, max_tokens=8)
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        pieces = list(engine.stream_rewrite("hf", TEXT, params))
        assert engine.status()["hf"].backend == "transformers"
        base = "".join(pieces)
        assert len(pieces) >= 3 and base.strip()
        adapter = hf_folder / "adapters" / "versions" / "1" / "adapter.gguf"
        engine.set_adapter("hf", adapter)
        adapted = engine.rewrite("hf", TEXT, params)
        assert adapted != base
        assert engine.status()["hf"].adapter_version == 1
        engine.set_adapter("hf", adapter)  # adapter to adapter: loaded beside, then the old one dropped
        assert engine.rewrite("hf", TEXT, params) == adapted
        engine.set_adapter("hf", None)
        assert engine.rewrite("hf", TEXT, params) == base
        lonely = hf_folder / "lonely.gguf"
        lonely.write_bytes(b"")
        with pytest.raises(ModelLoadError, match="adapter_config.json"):
            engine.set_adapter("hf", lonely)


@pytest.mark.slow
def test_a_registry_version_is_served_from_its_peft_folder(hf_folder: Path) -> None:
    """A base that is not a GGUF file gets no GGUF LoRA: the engine serves the version's PEFT folder."""
    from adapter_support import add_version

    from voiced.registry import Registry

    config = embedded_config(hf=str(hf_folder / "base"))
    params = replace(GREEDY, max_tokens=8)
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        base = engine.rewrite("hf", TEXT, params)
    number = add_version("hf", hf_folder / "adapters" / "versions" / "1", gguf=False, base_kind="hf")
    registry = Registry.open("hf")
    registry.activate(number)
    assert not registry.get(number).gguf_path.exists()
    with Engine(config) as engine:  # follows the registry
        adapted = engine.rewrite("hf", TEXT, params)
        status = engine.status()["hf"]
        assert status.backend == "transformers" and status.notice is None
        assert status.adapter_version == number and status.adapter == str(registry.get(number).path)
        assert adapted != base
        registry.rollback()  # behind the engine's back, as the CLI does
        assert engine.rewrite("hf", TEXT, params) == base
        assert engine.status()["hf"].adapter_version is None


@pytest.mark.slow
def test_a_folder_without_a_chat_template_is_served_with_the_trained_one(hf_folder: Path, tmp_path: Path) -> None:
    """A pretrained folder that ships no template: the server renders the prompt the trainer trained on."""
    import json
    import shutil

    from voiced.inference.hf_backend import TransformersBackend
    from voiced.prompts import PLAIN_TEMPLATE
    from voiced.trainer.base_model import load_tokenizer

    folder = tmp_path / "no-template"
    shutil.copytree(hf_folder / "base", folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config_path = folder / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text(encoding="utf-8"))
    tokenizer_config.pop("chat_template", None)
    config_path.write_text(json.dumps(tokenizer_config), encoding="utf-8")
    messages = [{"role": "system", "content": "Austen."}, {"role": "user", "content": TEXT}]
    backend = TransformersBackend(str(folder), n_ctx=512, n_threads=1)
    try:
        assert backend.tokenizer.chat_template == PLAIN_TEMPLATE
        served = backend.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    finally:
        backend.close()
    trained = load_tokenizer(str(folder)).apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert served == trained and TEXT in served
