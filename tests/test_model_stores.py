"""`voiced models` finds the models other tools keep (Ollama, LM Studio, the Hugging Face cache, the user's
folders), reads their headers, judges whether voiced can train and serve them, and resolves their names.

The stores are real layouts in a temporary home, holding the embedded GGUF, GGUFs written with gguf's
writer, a Llama saved with save_pretrained, and broken files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_store_support import (
    HOST,
    hf_cache_repo,
    isolate_stores,
    ollama_model,
    place,
    tiny_hf_folder,
    write_gguf,
)

from voiced.config import EMBEDDED_MODEL
from voiced.model_stores import discover, find_candidates, read_gguf_header
from voiced.models import ModelNotFound, embedded_model_path, resolve_base_model
from voiced.registry import runtime_for_base
from voiced.trainer.base_model import load_base_model, load_tokenizer
from voiced.trainer.gguf_lora import gguf_lora_unsupported_reason
from voiced.trainer.model_support import list_models

EMBEDDED_PARAMETERS = 134_515_008  # SmolLM2-135M: the sum of its GGUF tensors' elements
NOT_HERE = (
    "ollama:smollm2",  # :latest, which this store lacks
    "ollama:nosuch:1",
    "lmstudio:SomePub/none.gguf",
    "lmstudio:../../etc/passwd",  # outside the store
    "hf:acme/none",
    "hf:acme/tiny-llama/none.gguf",
    "hf:acme/smol-GGUF@nosuch/smol.Q4_1.gguf",  # a revision the cache lacks: never another one instead
)


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A home with every store filled, and a folder of one's own with odd and broken models."""
    root = tmp_path_factory.mktemp("machine")
    home, mine, scratch = root / "home", root / "mine", root / "scratch"
    embedded = embedded_model_path()

    ollama = home / ".ollama" / "models"
    ollama_model(ollama, "library", "smollm2", "135m")
    ollama_model(ollama, "someone", "smol", "q4", template=False)
    plain = write_gguf(scratch / "plain.gguf", "llama")
    ollama_model(ollama, "library", "plain", "1", plain, template=False)
    ollama_model(ollama, "library", "templated", "1", plain, template=True)
    gone = ollama / "manifests" / HOST / "library" / "gone" / "1b"
    gone.parent.mkdir(parents=True)
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + "e" * 64}
    gone.write_text(json.dumps({"layers": [layer]}))
    broken = ollama / "manifests" / HOST / "library" / "broken" / "latest"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")

    place(embedded, home / ".lmstudio" / "models" / "SomePub" / "smol-GGUF" / "smol.Q4_1.gguf")
    place(embedded, home / ".cache" / "lm-studio" / "models" / "OldPub" / "old" / "old.gguf")

    tiny = scratch / "tiny"
    load_tokenizer(EMBEDDED_MODEL).save_pretrained(tiny)  # so the cached folder loads whole for training
    parameters = tiny_hf_folder(tiny)
    cache = home / ".cache" / "huggingface" / "hub"
    hf_cache_repo(cache, "acme/tiny-llama", {entry.name: entry for entry in tiny.iterdir()})
    hf_cache_repo(cache, "acme/smol-GGUF", {"smol.Q4_1.gguf": embedded, "README.md": tiny / "config.json"})
    plain_dev = write_gguf(scratch / "dev.gguf", "llama")  # a second revision on a branch: "dev"
    hf_cache_repo(cache, "acme/smol-GGUF", {"smol.Q4_1.gguf": plain_dev}, commit="1" * 40, ref="dev")

    write_gguf(mine / "odd" / "rwkv.gguf", "rwkv6")
    write_gguf(mine / "odd" / "gpt2.gguf", "gpt2")
    write_gguf(mine / "odd" / "ints.gguf", "llama", {"token_embd.weight": np.zeros((4, 8), dtype=np.int32)})
    write_gguf(mine / "split-00001-of-00002.gguf", "llama", metadata={"split.count": 2})
    write_gguf(mine / "split-00002-of-00002.gguf", "llama", metadata={"split.count": 2})
    (mine / "truncated.gguf").write_bytes(embedded.read_bytes()[: 4 << 20])  # cut among the weights
    (mine / "cut-header.gguf").write_bytes(embedded.read_bytes()[:100_000])  # cut inside the vocabulary
    (mine / "notes.gguf").write_text("not a model at all\n")
    pickled = mine / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x02pickled")
    for name, extra in (("mlx-4bit", {"quantization": {"bits": 4, "group_size": 64}}),
                        ("gptq", {"quantization_config": {"quant_method": "gptq", "bits": 4}})):  # fmt: skip
        folder = mine / name
        place(tiny / "model.safetensors", folder / "model.safetensors")
        config = json.loads((tiny / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **extra}))
    sharded = mine / "sharded"
    assert tiny_hf_folder(sharded, max_shard_size="20KB") == parameters
    place(tiny / "model.safetensors", sharded / "consolidated.safetensors")  # a second copy the index does not name
    place(tiny / "model.safetensors", mine / "tiny" / "model.safetensors")
    place(tiny / "config.json", mine / "tiny" / "config.json")
    return {"home": home, "mine": mine, "tiny": tiny, "ollama": ollama, "parameters": parameters}


@pytest.fixture(autouse=True)
def at_home(machine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_stores(monkeypatch, machine["home"])


def _by_name(machine: dict[str, Any]) -> dict:
    return {report.model.name: report for report in list_models([str(machine["mine"])])}


def test_every_store_is_searched_and_names_are_stable(machine: dict[str, Any]) -> None:
    found = {candidate.name: candidate.source for candidate in find_candidates([str(machine["mine"])])}
    mine = machine["mine"]
    assert found == {
        "embedded:SmolLM2-135M-Instruct": "embedded",
        "ollama:broken:latest": "ollama",
        "ollama:gone:1b": "ollama",
        "ollama:plain:1": "ollama",
        "ollama:smollm2:135m": "ollama",
        "ollama:someone/smol:q4": "ollama",  # not Ollama's default namespace: it stays in the name
        "ollama:templated:1": "ollama",
        "lmstudio:SomePub/smol-GGUF/smol.Q4_1.gguf": "lmstudio",
        "lmstudio:OldPub/old/old.gguf": "lmstudio",  # the folder older LM Studio versions used
        "hf:acme/tiny-llama": "hf-cache",
        "hf:acme/smol-GGUF/smol.Q4_1.gguf": "hf-cache",
        **{
            str(mine / name): "folder"
            for name in (
                "cut-header.gguf",
                "gptq",
                "mlx-4bit",
                "notes.gguf",
                "odd/gpt2.gguf",
                "odd/ints.gguf",
                "odd/rwkv.gguf",
                "pickled",
                "sharded",
                "split-00001-of-00002.gguf",
                "tiny",
                "truncated.gguf",
            )
        },
    }


def test_a_gguf_is_described_from_its_header(machine: dict[str, Any]) -> None:
    import gguf

    reports = _by_name(machine)
    smol = reports["ollama:smollm2:135m"].model
    reader = gguf.GGUFReader(str(embedded_model_path()))  # the library's full reader, as the reference
    assert smol.parameters == sum(int(t.n_elements) for t in reader.tensors) == EMBEDDED_PARAMETERS
    assert (smol.format, smol.architecture, smol.quantization) == ("gguf", "llama", "Q4_1")
    assert smol.chat_template and smol.size_bytes == embedded_model_path().stat().st_size
    assert Path(smol.path).name.startswith("sha256-") and Path(smol.path).parent.name == "blobs"
    # the chat template: the GGUF's own; Ollama's template layer (a Go template voiced never reads) does not count
    assert reports["ollama:someone/smol:q4"].model.chat_template  # no layer, but the GGUF has one
    assert not reports["ollama:plain:1"].model.chat_template
    assert not reports["ollama:templated:1"].model.chat_template
    assert reports["ollama:plain:1"].model.quantization == "F32"
    assert reports["lmstudio:SomePub/smol-GGUF/smol.Q4_1.gguf"].model.parameters == EMBEDDED_PARAMETERS


def test_a_folder_is_described_from_config_and_safetensors_headers(machine: dict[str, Any]) -> None:
    reports = _by_name(machine)
    tiny = reports["hf:acme/tiny-llama"].model
    assert (tiny.format, tiny.architecture, tiny.quantization) == ("hf", "llama", "BF16")
    assert tiny.parameters == machine["parameters"]
    assert tiny.chat_template  # tokenizer_config.json's chat_template
    assert tiny.size_bytes == sum(entry.stat().st_size for entry in machine["tiny"].iterdir())
    assert reports[str(machine["mine"] / "tiny")].model.chat_template is False
    sharded = reports[str(machine["mine"] / "sharded")]  # the shards the index names, not the extra copy too
    assert sharded.model.parameters == machine["parameters"] and sharded.verdict.can_train
    assert reports[str(machine["mine"] / "gptq")].model.quantization == "gptq 4-bit"


def test_verdicts_say_what_trains_and_serves_and_why_not(machine: dict[str, Any]) -> None:
    reports = _by_name(machine)
    mine = machine["mine"]
    for name in ("embedded:SmolLM2-135M-Instruct", "ollama:smollm2:135m", "hf:acme/smol-GGUF/smol.Q4_1.gguf"):
        verdict = reports[name].verdict
        assert (verdict.can_train, verdict.can_serve, verdict.runtime) == (True, True, "llama.cpp"), name
    folder = reports["hf:acme/tiny-llama"].verdict
    assert folder.can_train and folder.can_serve and folder.runtime == runtime_for_base("hf_dir")

    rwkv = reports[str(mine / "odd" / "rwkv.gguf")].verdict
    assert not rwkv.can_train and "transformers cannot load the 'rwkv6' architecture from GGUF" in rwkv.train_reason
    assert not rwkv.can_serve and gguf_lora_unsupported_reason("rwkv6") in rwkv.serve_reason
    gpt2 = reports[str(mine / "odd" / "gpt2.gguf")].verdict
    assert gpt2.can_train  # transformers reads gpt2 GGUFs...
    lora = gguf_lora_unsupported_reason("gpt2")  # ...and llama.cpp serves its adapter only if the export is proven
    assert gpt2.can_serve is (lora is None) and (lora is None or lora in gpt2.serve_reason)
    ints = reports[str(mine / "odd" / "ints.gguf")].verdict
    assert not ints.can_train and "I32 tensors cannot be dequantised" in ints.train_reason

    expected = {
        str(mine / "truncated.gguf"): "truncated: its tensors need 98362432 bytes but the file has 4194304",
        str(mine / "cut-header.gguf"): "not a readable GGUF file",
        str(mine / "notes.gguf"): "not a GGUF file",
        str(mine / "split-00001-of-00002.gguf"): "part 1 of a GGUF split in 2 files",
        str(mine / "pickled"): "no *.safetensors weights",
        str(mine / "mlx-4bit"): "MLX-quantised (mlx 4-bit)",
        str(mine / "gptq"): "quantised (gptq 4-bit)",
        "ollama:gone:1b": "is missing; pull the model again",
        "ollama:broken:latest": "is unreadable",
    }
    for name, reason in expected.items():
        verdict = reports[name].verdict
        assert not verdict.can_train and reason in verdict.train_reason, (name, verdict)
    assert str(mine / "split-00002-of-00002.gguf") not in reports  # only the first part of a split is listed


def test_listing_reads_headers_only_and_is_quick(machine: dict[str, Any]) -> None:
    started = time.perf_counter()
    reports = list_models([str(machine["mine"])])
    elapsed = time.perf_counter() - started
    assert len(reports) == 23
    assert elapsed < 10, f"listing {len(reports)} models took {elapsed:.1f} s"
    started = time.perf_counter()
    header = read_gguf_header(embedded_model_path())
    assert header.parameters == EMBEDDED_PARAMETERS and time.perf_counter() - started < 0.5  # 0.016 s measured
    assert header.data_end == embedded_model_path().stat().st_size  # the tensors end where the file does


def test_store_names_resolve_to_the_files(machine: dict[str, Any]) -> None:
    blob = next((machine["ollama"] / "blobs").glob("sha256-*"))
    ollama = resolve_base_model("ollama:smollm2:135m")
    assert ollama.kind == "gguf" and ollama.path.suffix == ".gguf"  # a link transformers reads as GGUF
    assert ollama.path.resolve() == resolve_base_model("ollama:smollm2:135m").path.resolve()
    assert ollama.path.resolve().parent == blob.parent.resolve()
    for spelling in ("ollama:library/smollm2:135m", f"ollama:{HOST}/library/smollm2:135m"):
        assert resolve_base_model(spelling).path.resolve() == ollama.path.resolve()

    studio = resolve_base_model("lmstudio:SomePub/smol-GGUF/smol.Q4_1.gguf")
    assert studio.kind == "gguf" and studio.path.name == "smol.Q4_1.gguf"
    folder = resolve_base_model("hf:acme/tiny-llama")
    assert (
        folder.kind == "hf_dir" and (folder.path / "config.json").is_file() and folder.path.parent.name == "snapshots"
    )
    cached_gguf = resolve_base_model("hf:acme/smol-GGUF/smol.Q4_1.gguf")
    assert cached_gguf.kind == "gguf" and cached_gguf.path.stat().st_size == embedded_model_path().stat().st_size
    dev = resolve_base_model("hf:acme/smol-GGUF@dev/smol.Q4_1.gguf")
    assert dev.path.parent.name == "1" * 40 and dev.path.stat().st_size < 10_000
    assert resolve_base_model("hf:acme/smol-GGUF@" + "1" * 40 + "/smol.Q4_1.gguf").path == dev.path

    for missing in NOT_HERE:
        with pytest.raises(ModelNotFound) as info:
            resolve_base_model(missing)
        assert "`voiced models`" in info.value.fix, missing
    with pytest.raises(ModelNotFound, match="is missing"):
        resolve_base_model("ollama:gone:1b")


def test_ollama_models_env_and_two_hosts_with_one_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "elsewhere"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    plain = write_gguf(tmp_path / "plain.gguf", "llama")
    ollama_model(root, "library", "twin", "latest", plain, host="one.test")
    ollama_model(root, "library", "twin", "latest", plain, host="two.test")
    names = sorted(c.name for c in find_candidates() if c.source == "ollama")
    assert names == ["ollama:one.test/library/twin:latest", "ollama:two.test/library/twin:latest"]
    with pytest.raises(ModelNotFound, match="more than one model"):
        resolve_base_model("ollama:twin")
    assert resolve_base_model("ollama:two.test/library/twin:latest").path.resolve().name.startswith("sha256-")


def test_no_stores_at_all_lists_only_the_embedded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_stores(monkeypatch, tmp_path / "empty-home")
    assert [model.name for model in discover(["/nonexistent/folder"])] == ["embedded:SmolLM2-135M-Instruct"]


def test_an_ollama_base_loads_for_training_and_in_llama_cpp(machine: dict[str, Any]) -> None:
    """The blob has no .gguf suffix: transformers loads it through the link, llama.cpp opens it."""
    from voiced.inference.llama_runtime import open_llama
    from voiced.trainer.base_model import base_model_info

    ref = resolve_base_model("ollama:smollm2:135m")
    model, tokenizer = load_base_model(ref)
    assert model.num_parameters() > 100e6 and tokenizer.chat_template
    info = base_model_info(ref)
    assert (info.architecture, info.n_layers, info.id) == ("llama", 30, "ollama:smollm2:135m")
    assert info.sha256 == Path(ref.path.resolve()).name.removeprefix("sha256-")  # Ollama names blobs by their hash
    llm = open_llama(ref.location, n_ctx=64)
    out = llm.create_completion("The", max_tokens=1, temperature=0.0)
    assert isinstance(out, dict) and out["choices"][0]["text"]


def test_a_hugging_face_cache_base_loads_for_training(machine: dict[str, Any]) -> None:
    """The snapshot's files are links into the cache's blobs; transformers follows them."""
    ref = resolve_base_model("hf:acme/tiny-llama")
    model, tokenizer = load_base_model(ref)
    assert model.num_parameters() == machine["parameters"] and tokenizer("The voice")["input_ids"]


def test_a_sharded_folder_missing_a_shard_is_listed_as_incomplete(tmp_path: Path) -> None:
    """A download cut off midway: the index names shards that are not there, so it is not a trainable base."""
    from hub_support import tiny_llama_files

    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    files = tiny_llama_files(folder)
    shards = sorted(name for name in files if name.endswith(".safetensors"))
    (folder / shards[-1]).unlink()
    (found,) = [model for model in discover([str(tmp_path / "models")]) if model.path == str(folder)]
    assert found.problem and "incomplete" in found.problem and shards[-1] in found.problem


def test_one_base_written_several_ways_is_the_same_base(tmp_path: Path) -> None:
    import shutil

    from voiced.models import same_base

    embedded = embedded_model_path()
    assert same_base(EMBEDDED_MODEL, str(embedded)) and same_base(
        str(embedded), str(embedded.parent / "." / embedded.name)
    )
    assert same_base("owner/name", "hf:owner/name")  # a hub id, and its snapshot in the cache
    other = tmp_path / "other.gguf"
    shutil.copyfile(embedded, other)
    assert not same_base(str(other), EMBEDDED_MODEL)
    assert not same_base(str(tmp_path / "gone.gguf"), EMBEDDED_MODEL)  # a base that is no longer there
