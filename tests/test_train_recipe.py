"""The recipe that learns the voice: the continuation share of the mix, and the language-modelling stage on
the writer's own prose before the rewrite stage (real dataset, real tokenizer, the embedded model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from data_support import austen_paragraphs
from dataset_support import austen_documents, embedded_tokenizer
from train_support import fast_settings, load_embedded, make_examples

from voiced.config import DatasetSettings, TrainingSettings
from voiced.trainer.callbacks import RecordingProgress, TqdmProgress
from voiced.trainer.dataset import build_dataset
from voiced.trainer.mlx_backend import lm_warmup_ignored
from voiced.trainer.prose import prose_examples, training_documents
from voiced.trainer.schedule import lm_warmup_steps, staged_lr_factor
from voiced.trainer.tokenize import IGNORE_INDEX, epoch_batches, model_inputs
from voiced.trainer.training import train

SYSTEM = "Write as Austen."


@pytest.mark.parametrize("share", [0.3, 0.7])
def test_the_mix_honours_the_rewrite_share(share: float) -> None:
    settings = DatasetSettings(rewrite_share=share, section_weight=0, document_weight=0, min_corpus_words=100)
    dataset = build_dataset("v", austen_documents(30), SYSTEM, settings)
    every = [ex for rows in dataset.examples.values() for ex in rows]
    continues = sum(ex.task == "continue" for ex in every) / len(every)
    # one-sentence paragraphs cannot be continued and become rewrites, so continuations can only fall short
    assert len(every) > 150
    assert (1 - share) - 0.12 < continues <= (1 - share) + 0.06, continues


def test_the_stage_split_and_its_learning_rate() -> None:
    assert lm_warmup_steps(60, 0.0) == 0 and lm_warmup_steps(1, 0.5) == 0
    assert lm_warmup_steps(60, 0.25) == 15 and lm_warmup_steps(4, 0.01) == 1 and lm_warmup_steps(4, 0.99) == 3
    factors = [staged_lr_factor(step, 4, 10, 0.25) for step in range(10)]
    assert factors[0] < factors[1] == 1.0 and factors[3] < 1.0  # the warm-up stage ramps up and decays
    assert factors[4] < factors[5] < factors[6] == 1.0  # the rewrite stage ramps up again
    assert factors[9] < factors[6]


def test_prose_examples_are_the_training_splits_own_text_with_every_token_trained() -> None:
    tokenizer = embedded_tokenizer()
    settings = DatasetSettings(min_corpus_words=100, valid_fraction=0.2, test_fraction=0.2)
    dataset = build_dataset("v", austen_documents(24), SYSTEM, settings)
    prose = prose_examples(tokenizer, dataset, 96)

    assert prose and all(len(ex) <= 96 and ex.labels == ex.input_ids for ex in prose)
    assert not any(IGNORE_INDEX in ex.labels for ex in prose)
    held_out = {ex.document for split in ("valid", "test") for ex in dataset.examples[split]}
    assert held_out and not held_out & {ex.example_id.split(":")[1] for ex in prose}
    text = "".join(tokenizer.decode(ex.input_ids) for ex in prose)
    assert "<|im_start|>" not in text and SYSTEM not in text  # no chat template, no system prompt
    drafts = [d for ex in dataset.examples["train"] if ex.task == "rewrite" for d in ex.prompt_parts]
    originals = [p for passages in training_documents(dataset.examples["train"]).values() for p in passages]
    assert any(p[:40] in text for p in originals[:5])
    assert not any(d[:60] in text for d in drafts if d[:60] not in " ".join(originals))  # drafts are not prose


@pytest.fixture(scope="module")
def embedded():
    return load_embedded()


def _prose(tokenizer, paragraphs: list[str], length: int = 48) -> list[dict[str, list[int]]]:
    rows = [tokenizer(text, add_special_tokens=False)["input_ids"][:length] for text in paragraphs]
    return [{"input_ids": ids, "labels": list(ids)} for ids in rows]


def test_the_warm_up_stage_trains_prose_on_every_token_then_the_rewrite_stage(embedded, tmp_path: Path) -> None:
    import torch

    model, tokenizer = embedded
    paragraphs = austen_paragraphs(min_words=15)
    rewrites, valid = make_examples(tokenizer, paragraphs[:8]), make_examples(tokenizer, paragraphs[40:42])
    prose = _prose(tokenizer, paragraphs[60:68])
    # float32 (no bf16 autocast), so the first step's loss is exactly the float32 forward's below
    settings = fast_settings(
        epochs=2, max_steps=4, lm_warmup_fraction=0.5, eval_every=1, lora_dropout=0.0, cpu_autocast="off"
    )
    # LoRA's B starts at zero, so the first step's loss is the base model's on the first prose batch
    first = epoch_batches(prose, settings.batch_size, settings.batching, seed=settings.seed)[0]
    with torch.no_grad():
        expected = float(
            model(**{k: torch.as_tensor(v) if isinstance(v, list) else v for k, v in model_inputs(first).items()}).loss
        )
    recorder = RecordingProgress()
    result = train(model, rewrites, valid, settings, tmp_path / "run", progress=recorder, prose=prose)

    assert [e["stage"] for e in recorder.of("step")] == ["lm", "lm", "rewrite", "rewrite"]
    assert recorder.of("start")[0]["stages"] == {"lm": 2, "rewrite": 2}
    assert result.steps == 4 and result.train_losses[0] == pytest.approx(expected, rel=1e-4)
    assert all(ex["labels"] == ex["input_ids"] for ex in prose)  # labels not masked: every token trained
    # only the rewrite stage validates and keeps adapters
    assert [e["step"] for e in recorder.of("eval")] == [3, 4] and result.best_step in (3, 4)
    lrs = [e["lr"] for e in recorder.of("step")]
    assert lrs[2] < lrs[1] or lrs[2] < settings.learning_rate  # the rewrite stage warms up from low again


def test_without_prose_or_fraction_the_run_is_the_rewrite_stage_alone(embedded, tmp_path: Path) -> None:
    model, tokenizer = embedded
    paragraphs = austen_paragraphs(min_words=15)
    rewrites = make_examples(tokenizer, paragraphs[:8])
    recorder = RecordingProgress()
    train(model, rewrites, [], fast_settings(max_steps=2, lm_warmup_fraction=0.5), tmp_path / "run", progress=recorder)
    assert [e["stage"] for e in recorder.of("step")] == ["rewrite", "rewrite"]
    assert recorder.of("start")[0]["stages"] == {"lm": 0, "rewrite": 2}


def test_the_bar_names_the_stage(tmp_path: Path) -> None:
    with open(tmp_path / "bar.txt", "w") as stream:
        bar = TqdmProgress(stream)
        bar({"event": "start", "total_steps": 4})
        step = {"event": "step", "total_steps": 4, "loss": 2.0, "tokens_per_second": 10.0}
        bar({**step, "step": 1, "stage": "lm"})
        assert bar.bar.desc == "warm-up on prose"
        bar({**step, "step": 3, "stage": "rewrite"})
        assert bar.bar.desc == "training"


def test_the_mlx_backend_says_it_ignores_the_warm_up() -> None:
    asked = TrainingSettings(lm_warmup_fraction=0.3)
    assert "ignored" in lm_warmup_ignored(asked, [{"input_ids": [1, 2]}])
    assert lm_warmup_ignored(TrainingSettings(), [{"input_ids": [1, 2]}]) == ""
    assert lm_warmup_ignored(asked, []) == ""


def test_the_setting_is_range_checked_and_read_from_the_config_file(tmp_path: Path) -> None:
    from voiced.config import ConfigError, load_config
    from voiced.paths import get_paths

    paths = get_paths()  # the test's own VOICED_HOME
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    path = paths.config_file
    path.write_text("[training]\nlm_warmup_fraction = 0.25\n[dataset]\nrewrite_share = 0.4\n")
    config = load_config(paths)
    assert (config.training.lm_warmup_fraction, config.dataset.rewrite_share) == (0.25, 0.4)
    path.write_text("[training]\nlm_warmup_fraction = 1.0\n")
    with pytest.raises(ConfigError, match="lm_warmup_fraction"):
        load_config(paths)
    assert dataclasses.replace(TrainingSettings()).lm_warmup_fraction == 0.0


def test_the_fraction_in_the_config_file_gives_the_job_its_prose(tmp_path: Path) -> None:
    from job_support import make_voice

    from voiced.config import load_config, save_config
    from voiced.daemon.training_job import _Job
    from voiced.paths import get_paths

    config = make_voice(tmp_path)
    save_config(dataclasses.replace(config, training=dataclasses.replace(config.training, lm_warmup_fraction=0.5)))
    job = _Job(load_config(), "austen", {}, RecordingProgress(), lambda: False, get_paths())
    dataset, _snapshot = job._dataset()
    fitted, _test = job._tokenize(embedded_tokenizer(), dataset)
    prose = fitted["prose"][0]
    assert prose and all(ex.labels == ex.input_ids for ex in prose)
    assert {ex.example_id.split(":")[1] for ex in prose} == {ex.document for ex in dataset.examples["train"]}
    plain = _Job(load_config(), "austen", {"lm_warmup_fraction": 0.0}, RecordingProgress(), lambda: False, get_paths())
    assert "prose" not in plain._tokenize(embedded_tokenizer(), dataset)[0]
