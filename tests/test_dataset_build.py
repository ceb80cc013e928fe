"""Examples from passages: the shared wording, both tasks, mixed shapes in budget, a stable split."""

from __future__ import annotations

import dataclasses
import json
import stat

import pytest
from data_support import austen_paragraphs
from dataset_support import austen_documents, embedded_tokenizer, make_document

from voiced.config import DatasetSettings
from voiced.prompts import continue_messages, rewrite_messages
from voiced.trainer.dataset import (
    CorpusTooSmall,
    Example,
    assign_splits,
    build_dataset,
    document_key,
    export_chat,
    load_dataset,
    save_dataset,
    split_of,
)
from voiced.trainer.roughen import split_sentences
from voiced.trainer.tokenize import tokenize_example, tokenize_examples

SYSTEM = "You write like Jane Austen's narrator."


def _all(dataset):
    return [ex for rows in dataset.examples.values() for ex in rows]


@pytest.fixture(scope="module")
def built():
    return build_dataset("austen", austen_documents(), SYSTEM, DatasetSettings(), folders=["/notes"])


def test_every_example_uses_the_shared_wording_and_one_system_prompt(built):
    examples = _all(built)
    passages = {p.text for d in austen_documents() for p in d.passages}
    assert {ex.task for ex in examples} == {"rewrite", "continue"}
    for ex in examples:
        messages = ex.messages()
        assert messages[0] == {"role": "system", "content": SYSTEM}
        expected = (rewrite_messages if ex.task == "rewrite" else continue_messages)(SYSTEM, ex.prompt_text)
        assert messages[:2] == expected and messages[2]["role"] == "assistant"
        if ex.task == "rewrite":
            assert all(part in passages for part in ex.response_parts)  # the writer's text, verbatim
            assert len(ex.prompt_parts) == len(ex.response_parts)
            assert ex.prompt_text != ex.response_text
        else:
            assert ex.prompt_text not in ex.response_text


def test_shapes_are_mixed_and_within_the_token_budget(built):
    settings = DatasetSettings()
    examples = _all(built)
    shapes = {ex.shape for ex in examples}
    assert shapes == {"paragraph", "section", "document"}
    tokenizer = embedded_tokenizer()
    lengths = {ex.shape: [] for ex in examples}
    for ex in examples:
        lengths[ex.shape].append(len(tokenize_example(tokenizer, ex)))
    # Multi-passage shapes are sized to the budget when built (from an estimate); tokenization fits the rest.
    for shape in ("section", "document"):
        fitting = sum(n <= settings.max_example_tokens for n in lengths[shape])
        assert fitting >= 0.9 * len(lengths[shape]), (shape, lengths[shape])
    fitted, report = tokenize_examples(tokenizer, examples, settings.max_example_tokens)
    assert max(len(t) for t in fitted) <= settings.max_example_tokens
    assert report.kept + report.dropped == len(examples) and report.kept > 0.9 * len(examples)
    for ex in examples:
        if ex.shape != "paragraph":
            assert len(ex.response_parts) >= (2 if ex.task == "rewrite" else 1)
    counts = {s: len(v) for s, v in lengths.items()}
    assert counts["paragraph"] > counts["section"] > 0 and counts["document"] > 0


def test_shape_and_task_mix_follow_the_settings():
    docs = austen_documents()
    only_paragraphs = DatasetSettings(section_weight=0, document_weight=0, rewrite_share=1.0)
    dataset = build_dataset("v", docs, SYSTEM, only_paragraphs)
    assert {(ex.shape, ex.task) for ex in _all(dataset)} == {("paragraph", "rewrite")}
    continues = build_dataset("v", docs, SYSTEM, dataclasses.replace(only_paragraphs, rewrite_share=0.0))
    # A one-sentence paragraph has no opening to continue from: it becomes a rewrite.
    rewrites = [ex for ex in _all(continues) if ex.task == "rewrite"]
    assert all(len(split_sentences(ex.response_text)) == 1 for ex in rewrites)
    assert len(rewrites) < 0.5 * len(_all(continues))


def test_the_same_corpus_gives_the_same_dataset(built):
    again = build_dataset("austen", austen_documents(), SYSTEM, DatasetSettings(), folders=["/notes"])
    assert again.examples == built.examples
    reseeded = build_dataset("austen", austen_documents(), SYSTEM, DatasetSettings(seed=99), folders=["/notes"])
    assert reseeded.examples != built.examples


def test_split_is_by_document_and_stable_as_the_corpus_grows():
    small = austen_documents(12)
    grown = austen_documents(40)
    a = build_dataset("v", small, SYSTEM, DatasetSettings(min_corpus_words=0), folders=["/notes"])
    b = build_dataset("v", grown, SYSTEM, DatasetSettings(min_corpus_words=0), folders=["/notes"])
    for document, split in a.documents.items():
        if split_of(document, 0.1, 0.1) == split:  # every hash-rule split is kept as documents are added
            assert b.documents[document] == split
    for ex in _all(b):
        assert ex.split == b.documents[ex.document]
    assert set(b.documents.values()) == {"train", "valid", "test"}
    # The key is the path inside the voice folder: moving the whole folder changes nothing.
    moved = build_dataset(
        "v",
        austen_documents(40, folder="/elsewhere/writing"),
        SYSTEM,
        DatasetSettings(min_corpus_words=0),
        folders=["/elsewhere/writing"],
    )
    assert moved.documents == b.documents
    assert document_key("/notes/a/b.md", ["/other", "/notes"]) == "a/b.md"


def test_small_corpora_still_get_valid_and_test_documents():
    keys = ["a.md", "b.md", "c.md"]
    splits = assign_splits(keys, 0.1, 0.1)
    assert sorted(splits.values()) == ["test", "train", "valid"]
    assert assign_splits(keys, 0.1, 0.1) == splits
    assert set(assign_splits(["x.md", "y.md"], 0.0, 0.0).values()) == {"train"}
    # Given the last build's assignment, the fallback documents stay held out as the corpus grows.
    more = keys + [f"n{i}.md" for i in range(40)]
    grown = assign_splits(more, 0.1, 0.1, previous=splits)
    assert {k: grown[k] for k in keys} == splits
    assert {k: assign_splits(more, 0.1, 0.1)[k] for k in keys} != splits  # the hash rule alone would move one back


def test_too_small_a_corpus_says_how_many_words_are_needed():
    tiny = [make_document("/notes/one.md", list(austen_paragraphs()[:3]))]
    words = sum(p.words for p in tiny[0].passages)
    with pytest.raises(CorpusTooSmall) as caught:
        build_dataset("v", tiny, SYSTEM, DatasetSettings(min_corpus_words=2000))
    assert f"{2000 - words:,} more" in str(caught.value) and "2,000" in str(caught.value)


def test_saved_dataset_round_trips_privately(built, tmp_path):
    files = save_dataset(built, tmp_path / "datasets" / "austen")
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    loaded = load_dataset(tmp_path / "datasets" / "austen", "austen")
    assert loaded.examples == built.examples and loaded.documents == built.documents
    exported = export_chat(loaded, tmp_path / "export")
    rows = [json.loads(line) for line in exported[0].read_text().splitlines()]
    assert len(rows) == len(built.examples["train"])
    assert set(rows[0]) == {"messages"} and [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    assert Example.from_json(built.examples["train"][0].to_json()) == built.examples["train"][0]


def test_a_split_kept_from_other_settings_does_not_outlive_them(tmp_path):
    """An older build's summary (no recorded rule) that held every document out, or one made under other
    fractions, is not carried into the next build; one made under the same fractions is."""
    from job_support import make_voice

    from voiced.paths import get_paths
    from voiced.trainer.dataset import build_voice_dataset, dataset_dir

    config = make_voice(tmp_path)
    folder = dataset_dir(get_paths().data_dir, "austen")
    first, _ = build_voice_dataset(config, "austen")
    assert first.examples["train"]
    poisoned = {document: "valid" for document in first.documents}  # what valid_fraction = 2.0 kept
    (folder / "summary.json").write_text(json.dumps({"document_splits": poisoned}))
    repaired, _ = build_voice_dataset(config, "austen")
    assert repaired.documents == first.documents and repaired.examples["train"]
    assert first.split_rule == {"valid_fraction": 0.15, "test_fraction": 0.25}
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["split_rule"] == {"valid_fraction": 0.15, "test_fraction": 0.25}
    (folder / "summary.json").write_text(
        json.dumps({**saved, "document_splits": poisoned, "split_rule": {"valid_fraction": 2.0, "test_fraction": 0.25}})
    )
    assert build_voice_dataset(config, "austen")[0].documents == first.documents
    # Under the same rule the saved assignment is kept (a fallback choice stays held out).
    kept = dict(first.documents, **{next(iter(first.documents)): "test"})
    (folder / "summary.json").write_text(json.dumps({**saved, "document_splits": kept}))
    assert build_voice_dataset(config, "austen")[0].documents == kept


def test_after_a_bad_fraction_is_fixed_dataset_build_has_training_examples(tmp_path, voiced_home):
    """The writer's sequence: valid_fraction = 2.0, build, fix the setting, build: no folder deleted by hand."""
    from conftest import run_voiced
    from job_support import make_voice
    from test_settings_ranges_cli import set_setting

    make_voice(tmp_path)
    set_setting("dataset", "valid_fraction", 2.0)
    bad = run_voiced("dataset", "build", check=False)
    assert bad.returncode == 1 and "`dataset.valid_fraction`" in bad.stderr and "Traceback" not in bad.stderr
    set_setting("dataset", "valid_fraction", 0.15)
    run_voiced("dataset", "build")
    summary = json.loads((voiced_home / "data" / "datasets" / "austen" / "summary.json").read_text())
    assert summary["examples"]["train"] > 0 and "train" in summary["document_splits"].values()
