"""`voiced eval` on the demo corpus with the base model: held-out drafts in, every figure out."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pytest
from click.testing import CliRunner
from data_support import DEMO_CORPUS

from voiced.cli import main
from voiced.config import Config, DatasetSettings, VoiceConfig, save_config
from voiced.corpus.scanner import scan
from voiced.corpus.store import CorpusStore
from voiced.evaluation import drafts
from voiced.evaluation.passage_metrics import METRICS
from voiced.evaluation.run import CEILING, FLOOR, held_out_passages, voice_dataset
from voiced.paths import get_paths
from voiced.trainer.roughen import HELD_OUT_FAMILY, TRAINING_FAMILIES

PASSAGES = 4


def _demo_voice() -> Config:
    config = Config(
        voices={"austen": VoiceConfig(name="austen", folders=[str(DEMO_CORPUS)])},
        dataset=DatasetSettings(min_corpus_words=300, test_fraction=0.3),
    )
    config.evaluation.max_tokens = 48
    config.inference.n_threads = 1
    save_config(config)
    with CorpusStore.open() as store:
        scan(store, config)
    return config


def test_eval_on_the_demo_corpus_rewrites_held_out_drafts_and_reports_every_figure(tmp_path: Path) -> None:
    config = _demo_voice()
    report = tmp_path / "report.html"
    run = CliRunner().invoke(main, ["eval", "--n", str(PASSAGES), "--no-nll", "--json", "--html", str(report)])
    assert run.exit_code == 0, run.output
    result = json.loads(run.output[run.output.index("{") :])
    assert result["passages"] == PASSAGES and result["drafts"] == {"heldout": PASSAGES}
    # The demo corpus is Austen's own: her reference profile is set aside, the Brontës remain.
    assert result["references"] == ["anne-bronte", "emily-bronte"]
    assert any("'austen' set aside" in note for note in result["notes"])
    metrics = result["metrics"]
    assert list(metrics) == [FLOOR, "base", CEILING]
    for label in metrics:
        missing = [name for name in METRICS if metrics[label][name] is None]
        assert not missing, (label, missing)
    floor, ceiling, base = metrics[FLOOR], metrics[CEILING], metrics["base"]
    assert floor["copy"] == 1.0 and floor["chrf_gain"] == 0.0 and floor["towards_char3"] == 0.0
    assert ceiling["chrf_gain"] == pytest.approx(100.0 - floor["chrf"])
    assert ceiling["chrf"] == 100.0 and ceiling["copy"] == 0.0 and ceiling["commentary"] == 0.0
    assert base["chrf_gain"] == pytest.approx(base["chrf"] - floor["chrf"])
    assert 0.0 <= base["copy"] <= 1.0 and 0.0 <= base["commentary"] <= 1.0 and base["length_ratio"] > 0

    # The drafts rewritten were the held-out family's, not the training drafts saved with the dataset.
    dataset = voice_dataset(config, "austen", get_paths())
    passages = held_out_passages(dataset, PASSAGES, config.evaluation.seed)
    assert HELD_OUT_FAMILY not in TRAINING_FAMILIES
    assert all(p.style.split("+")[0] == HELD_OUT_FAMILY for p in passages), [p.style for p in passages]
    training = {ex.response_text: ex.prompt_text for ex in dataset.examples["test"] if ex.task == "rewrite"}
    assert len(passages) == PASSAGES and all(p.original in training for p in passages)
    assert not any(p.rough == training[p.original] for p in passages)
    html = report.read_text(encoding="utf-8")
    assert all(escape(p.rough) in html for p in passages[:3])  # the samples shown are those drafts
    assert "emily-bronte" in html and "chrF gain over the draft" in html


def test_a_passage_the_held_out_family_cannot_draft_is_skipped() -> None:
    """roughen's last resort ("So, basically, ...") is shared with training: not a held-out draft."""
    drafted, skipped = drafts.held_out_passages(
        ["Anne Elliot.", "Anne was not sorry to walk to Uppercross alone; the lanes were quiet and green.", "Yes."],
        seed=1234,
        n=5,
    )
    assert skipped == 2 and [p.original[:4] for p in drafted] == ["Anne"] and drafted[0].style == HELD_OUT_FAMILY
    assert drafted[0].rough != drafted[0].original and "basically" not in drafted[0].rough
    two, _ = drafts.held_out_passages(
        ["Anne walked on; it rained.\n\nShe was not sorry to be alone; the lanes were quiet."], seed=1, n=1
    )
    assert two[0].rough.count("\n\n") == 1  # each paragraph drafted on its own, the break kept
