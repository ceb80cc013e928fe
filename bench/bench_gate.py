"""Wall time of the "voice" gate (voiced.evaluation.voice_gate.run_voice_gate) on one loaded llama.cpp model.

    python bench/bench_gate.py [--notes 400] [--passages 24]

Builds a throwaway voice (VOICED_HOME in a temporary folder) from the demo corpus, or from ``--notes`` notes
of Persuasion paragraphs, and gates a random GGUF LoRA against the base model: such a candidate fails, so
this is the worst case, with the training-family drafts rewritten as well. Prints the seconds of each part.
The NLL half of the gate (voiced.trainer.gate) is timed by bench/bench_eval.py's NLL figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def notes_folder(home: Path, notes: int) -> Path:
    if not notes:
        return ROOT / "examples" / "demo-corpus"
    from train_support import austen_paragraphs

    folder = home / "notes"
    folder.mkdir()
    paragraphs = austen_paragraphs("persuasion.txt", min_words=15)
    for index in range(notes):
        chunk = paragraphs[(index * 2) % len(paragraphs) : (index * 2) % len(paragraphs) + 2]
        (folder / f"note-{index:03d}.txt").write_text("\n\n".join(chunk) + "\n", encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=0, help="notes of Persuasion paragraphs (0: the demo corpus)")
    parser.add_argument("--passages", type=int, default=None, help="[evaluation] gate_passages")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="voiced-bench-gate-"))
    os.environ["VOICED_HOME"] = str(home)

    from engine_support import write_lora_gguf

    from voiced.config import Config, VoiceConfig, save_config
    from voiced.corpus.scanner import scan
    from voiced.corpus.store import CorpusStore
    from voiced.evaluation.voice_gate import run_voice_gate
    from voiced.inference.engine import Engine
    from voiced.inference.rewrite_guard import GuardLimits
    from voiced.trainer.dataset import build_voice_dataset

    config = Config(voices={"bench": VoiceConfig(name="bench", folders=[str(notes_folder(home, args.notes))])})
    if args.passages:
        config.evaluation.gate_passages = args.passages
    save_config(config)
    with CorpusStore.open() as store:
        scan(store, config)
    started = time.monotonic()
    dataset, _ = build_voice_dataset(config, "bench")
    tests = sum(1 for ex in dataset.examples.get("test", []) if ex.task == "rewrite")
    print(f"dataset: {time.monotonic() - started:.1f} s, {tests} test rewrite examples")
    candidate = write_lora_gguf(home / "candidate.gguf", seed=3)
    started = time.monotonic()
    with Engine(config, adapter_resolver=lambda _voice: None) as engine:
        engine.load("bench")
        loaded = time.monotonic() - started
        decision = run_voice_gate(
            engine,
            "bench",
            dataset,
            config.evaluation,
            candidate=candidate,
            reference=None,
            reference_label="the base model",
            limits=GuardLimits.from_settings(config.inference),
            structural_noise=config.dataset.structural_noise,
        )
    print(
        f"model load: {loaded:.1f} s; gate: {decision.seconds:.1f} s for {decision.passages} passages "
        f"({'with' if decision.training_family_gain else 'without'} training-family drafts); "
        f"promote={decision.promote}\n{decision.reason}"
    )


if __name__ == "__main__":
    main()
