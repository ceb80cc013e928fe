"""The manifest's typed contract on real registry files: what the current code writes reads back typed,
keys no version knows survive rewrites, and a damaged field reads as its default instead of crashing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from job_support import fake_adapter
from process_support import run_voiced

from voiced.config import Config, VoiceConfig, save_config
from voiced.manifest import NO_STATUS, Manifest
from voiced.registry import MANIFEST, NotUsable, Registry

# A manifest.json as `voiced train` wrote it (a real run through the daemon, voice gate on), saved verbatim.
WRITTEN_BY_A_TRAINING_RUN = """{
  "schema": 1, "voice": "austen", "version": 1, "status": "rejected",
  "reason": "The new voice copies the draft: it gave back 1 of 9 test drafts unchanged, so it would not change your text.",
  "created": "2026-12-01T23:24:12+00:00", "pid": 21588, "host": "vm",
  "base_model": {"id": "embedded:SmolLM2-135M-Instruct", "kind": "gguf",
    "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "architecture": "llama",
    "n_head": 9, "n_head_kv": 3, "hidden_size": 576, "n_layers": 30},
  "corpus": {"documents": 24, "passages": 48, "words": 1712,
    "digest": "6967b4185d3b91db9d6415ffdcda077a287d5cffbd2e9b614f41ab977bf06b3f"},
  "examples": {"train": {"examples": 31, "tasks": {"rewrite": 23, "continue": 8},
    "shapes": {"paragraph": 30, "document": 1}, "tokenized": 30, "shortened": 0, "dropped": 1}},
  "hyperparameters": {"lora_rank": 8, "lora_alpha": 32.0, "target_modules": ["q_proj", "k_proj"], "max_steps": 4},
  "backend": "peft", "device": "cpu",
  "scores": {"test_nll": {"base": 1.0773, "candidate": 0.8977}, "active_version": null, "min_margin": 0.01,
    "test_examples": 8, "test_tokens": 358, "promoted": false,
    "reason": "The new voice copies the draft: it gave back 1 of 9 test drafts unchanged, so it would not change your text.",
    "voice_gate": {"promote": false, "passages": 9, "nll": {"reference": 1.0773, "candidate": 0.8977}}},
  "notes": [],
  "losses": {"train": [[1, 1.0699470043182373], [2, 4.247037887573242], [3, 0.7909678220748901]],
    "valid": [[3, 0.46579471230506897], [4, 0.45716723799705505]]},
  "training": {"stopped": "max_steps", "steps": 4, "total_steps": 4, "best_step": 4,
    "best_valid_loss": 0.45716723799705505, "learning_rate": 0.002, "tokens": 1294, "tokens_per_second": 53.5,
    "dtype": "float32"},
  "durations": {"dataset": 9.583, "load": 39.206, "train": 25.095, "export": 6.286, "gate": 288.843, "total": 369.04},
  "artifacts": {"transformers": ".", "llama.cpp": "adapter.gguf"},
  "finished": "2026-12-01T23:29:32+00:00"
}"""  # noqa: E501 - the gate's reason, verbatim


def _saved_version(registry: Registry, tmp_path: Path, manifest: dict) -> int:
    """A finished version whose manifest.json is then replaced by ``manifest``, as an older or newer voiced left it."""
    version = registry.begin_version({})
    source = fake_adapter(tmp_path / f"src{version.number}")
    registry.finish_version(version, source, source / "adapter.gguf", {"status": "candidate"})
    (version.path / MANIFEST).write_text(json.dumps({**manifest, "version": version.number}))
    return version.number


def _on_disk(registry: Registry, number: int) -> dict:
    return json.loads((registry.versions_dir / str(number) / MANIFEST).read_text())


def test_a_manifest_written_by_a_training_run_reads_back_typed(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    number = _saved_version(registry, tmp_path, json.loads(WRITTEN_BY_A_TRAINING_RUN))
    manifest = registry.get(number).manifest
    assert manifest.problems == {} and manifest.extra == {}
    assert manifest.status == "rejected" and manifest.reason.startswith("The new voice copies the draft")
    assert manifest.base_model.kind == "gguf" and manifest.base_model.n_layers == 30
    assert manifest.corpus.words == 1712 and manifest.corpus.documents == 24 and len(manifest.corpus.digest or "") == 64
    assert manifest.scores.test_nll == {"base": 1.0773, "candidate": 0.8977} and manifest.scores.promoted is False
    assert manifest.scores.voice_gate["passages"] == 9 and manifest.scores.active_version is None
    assert manifest.losses.train[0] == (1, 1.0699470043182373) and len(manifest.losses.valid) == 2
    assert manifest.training.steps == 4 and manifest.training.stopped == "max_steps"
    assert manifest.durations["total"] == 369.04 and manifest.artifacts == {
        "transformers": ".",
        "llama.cpp": "adapter.gguf",
    }
    assert manifest.hyperparameters["lora_rank"] == 8 and manifest.backend == "peft" and manifest.device == "cpu"
    assert manifest.created_at is not None and manifest.finished_at is not None
    assert (manifest.finished_at - manifest.created_at).total_seconds() == 320
    assert manifest.to_dict() == {**json.loads(WRITTEN_BY_A_TRAINING_RUN), "version": number}


def test_writers_keep_every_key_in_order_and_keys_no_version_knows(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    newer = {**json.loads(WRITTEN_BY_A_TRAINING_RUN), "status": "candidate", "from_the_future": {"a": [1, 2]}}
    number = _saved_version(registry, tmp_path, newer)
    assert registry.get(number).manifest.extra == {"from_the_future": {"a": [1, 2]}}
    before = _on_disk(registry, number)
    registry.activate(number)  # writes a copy of the pointer into the manifest
    registry.mark_failed(number, "the test says so")
    after = _on_disk(registry, number)
    assert list(after)[: len(before)] == list(before) and set(after) - set(before) == {"pointer"}
    assert after["from_the_future"] == {"a": [1, 2]} and after["losses"] == before["losses"]
    assert after["status"] == "failed" and after["reason"] == "the test says so"
    assert after["pointer"]["version"] == number


def test_a_new_version_writes_the_same_json_as_before(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = registry.begin_version({"corpus": {"words": 10}, "backend": "peft"})
    source = fake_adapter(tmp_path / "src")
    finished = registry.finish_version(
        version, source, source / "adapter.gguf", {"status": "candidate", "scores": {"test_nll": {"candidate": 2.0}}}
    )
    written = _on_disk(registry, version.number)
    assert list(written) == [
        *("schema", "voice", "version", "status", "reason", "created", "pid", "host", "corpus", "backend", "scores"),
        *("artifacts", "finished"),
    ]
    assert written["pid"] == os.getpid() and finished.manifest == Manifest.from_dict(written)
    assert finished.manifest.to_dict() == written


@pytest.mark.parametrize(
    ("damage", "field", "read_as"),
    [
        ({"scores": "oops"}, "scores", lambda m: m.scores.test_nll == {}),
        ({"corpus": {"words": "many"}}, "corpus.words", lambda m: m.corpus.words is None),
        ({"created": "yesterday"}, "created", lambda m: m.created_at is None),
        ({"losses": {"train": [[1, "x"]]}}, "losses.train", lambda m: not m.losses),
        ({"notes": "one note"}, "notes", lambda m: m.notes == ()),
        ({"base_model": {"kind": 3}}, "base_model.kind", lambda m: m.base_model.kind == ""),
        ({"artifacts": ["adapter.gguf"]}, "artifacts", lambda m: m.artifacts is None),
    ],
)
def test_a_wrong_typed_field_reads_as_its_default_and_stays_on_disk(
    tmp_path: Path, damage: dict, field: str, read_as
) -> None:
    registry = Registry.open("austen")
    number = _saved_version(registry, tmp_path, {**json.loads(WRITTEN_BY_A_TRAINING_RUN), **damage})
    manifest = registry.get(number).manifest
    assert field in manifest.problems and read_as(manifest)
    assert manifest.status == "rejected"  # the rest of the record is read as written
    registry.mark_failed(number, "rewritten")
    key = field.split(".")[0]
    assert _on_disk(registry, number)[key] == {**json.loads(WRITTEN_BY_A_TRAINING_RUN), **damage}[key]


def test_a_manifest_without_a_usable_status_reads_as_failed_and_is_never_activated(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    number = _saved_version(registry, tmp_path, {"status": 5, "corpus": {"words": 3}})
    version = registry.get(number)
    assert version.status == "failed" and version.reason == NO_STATUS and "status" in version.manifest.problems
    with pytest.raises(NotUsable, match=NO_STATUS):
        registry.activate(number)
    assert Manifest.from_dict(["not", "an", "object"]).problems == {
        "manifest": "is ['not', 'an', 'object'], not an object; read as empty"
    }


def test_the_cli_shows_a_damaged_manifest_and_says_what_is_wrong(tmp_path: Path) -> None:
    save_config(Config(voices={"austen": VoiceConfig(name="austen")}))
    registry = Registry.open("austen")
    number = _saved_version(
        registry, tmp_path, {**json.loads(WRITTEN_BY_A_TRAINING_RUN), "scores": "oops", "corpus": {"words": "many"}}
    )
    listed = json.loads(run_voiced("adapters", "list", "--json").stdout)
    assert listed[0]["words"] is None and listed[0]["scores"] is None and listed[0]["verdict"] == "rejected"
    shown = run_voiced("adapters", "show", str(number))
    assert "scores: oops" in shown.stdout and "manifest.json: scores is 'oops', not an object" in shown.stderr
    assert "corpus.words is 'many', not a whole number" in shown.stderr
    status = json.loads(run_voiced("status", "--json").stdout)
    assert status["voices"]["austen"]["adapters"]["versions"] == 1


def test_recovery_removes_what_an_interrupted_private_write_left(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    number = _saved_version(registry, tmp_path, json.loads(WRITTEN_BY_A_TRAINING_RUN))
    torn = [registry.root / ".active.json.k2j3.tmp", registry.versions_dir / str(number) / ".manifest.json.x8a.tmp"]
    for path in torn:
        path.write_text("{")
    unrelated = registry.root / ".notes.tmp"
    unrelated.write_text("kept")
    notes = Registry.open("austen").notes
    assert not any(path.exists() for path in torn) and unrelated.exists()
    assert any(".manifest.json.x8a.tmp" in note for note in notes)
