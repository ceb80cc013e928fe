"""The preference stage (trainer/preference.py): DPO on the writer's kept-over-rejected pairs.

The pairs are synthetic and unambiguous: the kept text is an Austen sentence,
the rejected proposal the same sentence with contractions and modern words
(the draft the writer selected). A few DPO steps on the embedded model must
move held-out pairs, sentences it never trained on, towards the kept side;
with too few pairs, or the stage off, nothing is trained.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from data_support import austen_paragraphs
from train_support import fast_settings

from voiced.config import VoiceConfig
from voiced.corpus.feedback import FeedbackRecord, PreferencePair, preference_pairs, record_feedback
from voiced.daemon.training_job import run_preference_stage
from voiced.paths import get_paths
from voiced.trainer.preference import completion_logps, preference_score, skip_reason, train_preference

MODERN = [
    (r"\bdo not\b", "don't"),
    (r"\bdid not\b", "didn't"),
    (r"\bcould not\b", "couldn't"),
    (r"\bwould not\b", "wouldn't"),
    (r"\bwas not\b", "wasn't"),
    (r"\bis not\b", "isn't"),
    (r"\bhad not\b", "hadn't"),
    (r"\bcannot\b", "can't"),
    (r"\bI am\b", "I'm"),
    (r"\b([Ii])t is\b", r"\1t's"),
    (r"\bI have\b", "I've"),
    (r"\bshall\b", "will"),
    (r"\bvery\b", "really"),
    (r"\bextremely\b", "totally"),
    (r"\bthat is\b", "that's"),
    (r"\byou are\b", "you're"),
]
SYSTEM = "Austen."


def modernised(sentence: str) -> tuple[str, int]:
    changes = 0
    for pattern, modern in MODERN:
        sentence, n = re.subn(pattern, modern, sentence)
        changes += n
    return sentence, changes


def austen_pairs(count: int, skip: int = 0) -> list[PreferencePair]:
    """Short Persuasion sentences (kept) against their modernised selves (the draft and the rejected proposal)."""
    pairs = []
    for paragraph in austen_paragraphs("persuasion"):
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
            modern, changes = modernised(sentence)
            if changes and 5 <= len(sentence.split()) <= 12 and '"' not in sentence:
                pairs.append(PreferencePair(modern, sentence, modern, f"p{len(pairs)}", 1))
    assert len(pairs) >= skip + count, "Persuasion has fewer short sentences to modernise than the test needs"
    return pairs[skip : skip + count]


def test_the_stage_needs_enough_pairs_and_can_be_turned_off(tmp_path: Path) -> None:
    settings = fast_settings(preference_min_pairs=32)
    sft = tmp_path / "sft"
    few = train_preference(
        None, None, sft, austen_pairs(5), settings, tmp_path / "out", system_prompt=SYSTEM, max_length=128
    )
    assert not few.ran and few.adapter_dir == sft and few.steps == 0
    assert "5 preference pair(s)" in few.reason and "preference_min_pairs" in few.reason
    off = replace(settings, preference_stage="off", preference_min_pairs=1)
    stopped = train_preference(
        None, None, sft, austen_pairs(40), off, tmp_path / "out", system_prompt=SYSTEM, max_length=128
    )
    assert not stopped.ran and "off" in stopped.reason and not (tmp_path / "out").exists()
    assert skip_reason(replace(settings, preference_min_pairs=40), 40) is None


def test_the_job_reads_its_pairs_from_the_feedback_store(tmp_path: Path) -> None:
    """An empty store and one below the threshold skip the stage and say how many pairs there were."""
    paths, voice = get_paths(), VoiceConfig(name="v", system_prompt=SYSTEM)
    settings = fast_settings(preference_min_pairs=3)

    def stage():
        return run_preference_stage(
            settings, voice, paths, None, None, tmp_path / "sft", tmp_path / "p", max_length=128
        )

    assert stage().reason.startswith("0 preference pair(s)")
    now = time.time()
    for i, pair in enumerate(austen_pairs(2)):  # edited proposals: the writer's final text is the kept one
        record_feedback(
            paths,
            FeedbackRecord(f"id{i}", "v", 1, "rewrite", "edited", pair.prompt, pair.rejected, pair.chosen, now, now),
        )
    assert len(preference_pairs(paths, "v")) == 2
    skipped = stage()
    assert not skipped.ran and skipped.pairs == 2 and skipped.adapter_dir == tmp_path / "sft"
    assert not run_preference_stage(
        replace(settings, preference_stage="off"),
        voice,
        paths,
        None,
        None,
        tmp_path / "sft",
        tmp_path / "p",
        max_length=128,
    ).pairs  # off: the store is not even read


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 3 minutes alone on two cores; shared, up to three times that
def test_dpo_moves_held_out_pairs_towards_the_kept_text(tmp_path: Path) -> None:
    import torch
    from peft import PeftModel, get_peft_model

    from voiced.models import EMBEDDED_MODEL, resolve_base_model
    from voiced.trainer.base_model import load_base_model
    from voiced.trainer.callbacks import RecordingProgress
    from voiced.trainer.peft_backend import lora_config, set_threads

    settings = fast_settings(preference_min_pairs=16, preference_steps=6, batch_size=2, warmup_fraction=0.0)
    set_threads(settings)
    model, tokenizer = load_base_model(resolve_base_model(EMBEDDED_MODEL), "cpu", torch.float32)
    train, held_out = austen_pairs(16), austen_pairs(8, skip=120)
    # The supervised stage's adapter: a LoRA adapter saved as the PEFT backend saves one.
    # Its B matrices are not zero, so the base model differs from it and the reference check below can fail.
    torch.manual_seed(0)  # before the LoRA A matrices are drawn too: the shift below must not hang on test order
    supervised = get_peft_model(model, lora_config(settings))
    with torch.no_grad():
        for name, weight in supervised.named_parameters():
            if "lora_B" in name:
                weight.normal_(0.0, 1e-2)
    supervised.save_pretrained(tmp_path / "sft", save_embedding_layers=False)
    before = completion_logps(supervised, tokenizer, held_out, SYSTEM)
    with supervised.disable_adapter():
        base = completion_logps(supervised, tokenizer, held_out, SYSTEM)
    moved = [abs((c - r) - (bc - br)) for (c, r), (bc, br) in zip(before, base, strict=True)]
    assert sum(moved) / len(moved) > 0.05  # nats of log-ratio between the supervised adapter and the base
    model = supervised.unload()

    events = RecordingProgress()
    result = train_preference(
        model,
        tokenizer,
        tmp_path / "sft",
        train,
        settings,
        tmp_path / "pref",
        system_prompt=SYSTEM,
        max_length=160,
        progress=events,
    )
    assert result.ran and result.steps == 6 and result.stopped == "completed"
    assert result.adapter_dir == tmp_path / "pref" / "best"
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert not (result.adapter_dir / "ref").exists()  # TRL's frozen reference copy is not exported
    assert not any("lora" in name for name, _ in model.named_modules())  # the base model is handed back bare
    steps = events.of("step")
    assert [e["step"] for e in steps] == list(range(1, 7)) and {e["stage"] for e in steps} == {"preference"}
    # DPO's reference is the supervised adapter (TRL's frozen copy), not the base: before the first update the
    # policy equals it, so the first step's reward margin is 0 (against the base it would be beta * the shift).
    assert abs(steps[0]["reward_margin"]) < 1e-4
    assert events.of("start")[0]["stage"] == "preference" and events.of("end")[0]["stopped"] == "completed"

    tuned = PeftModel.from_pretrained(model, str(result.adapter_dir))
    after = preference_score(completion_logps(tuned, tokenizer, held_out, SYSTEM), before)
    print(f"held-out pairs: {after} after {result.steps} steps in {result.seconds:.0f} s")
    assert after.mean_log_ratio > 0.1 and after.accuracy >= 0.75


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a whole job: dataset, supervised steps, the stage, export and gate
def test_a_job_with_enough_feedback_trains_exports_and_gates_the_preference_adapter(tmp_path: Path) -> None:
    import json

    from job_support import make_voice

    from voiced.config import save_config
    from voiced.daemon.training_job import run_training_job
    from voiced.registry import MANIFEST, Registry

    config = make_voice(tmp_path)
    config.evaluation.gate_mode = "nll"
    config.training = replace(config.training, max_steps=2, preference_min_pairs=4, preference_steps=2)
    save_config(config)
    paths, now = get_paths(), time.time()
    for i, pair in enumerate(austen_pairs(4)):
        record_feedback(
            paths,
            FeedbackRecord(
                f"id{i}", "austen", None, "rewrite", "edited", pair.prompt, pair.rejected, pair.chosen, now, now
            ),
        )
    events: list[dict] = []
    result = run_training_job(config, "austen", progress=events.append)
    assert result.status in ("active", "rejected"), result.reason
    assert {"event": "phase", "phase": "preference"} in events
    assert [e["step"] for e in events if e.get("event") == "step" and e.get("stage") == "preference"] == [1, 2]
    version = Registry.open("austen").get(result.version)
    manifest = json.loads((version.path / MANIFEST).read_text())
    stage = manifest["preference"]
    assert stage["ran"] and stage["pairs"] == 4 and stage["steps"] == 2 and len(stage["losses"]) == 2
    assert stage["adapter_dir"].endswith("preference/best") and "preference" in manifest["durations"]
    assert (version.path / "adapter.gguf").is_file() and manifest["scores"]["test_nll"]["candidate"] > 0
