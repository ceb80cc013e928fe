"""A small real voice for job and CLI tests: Persuasion paragraphs as notes, configured and scanned."""

from __future__ import annotations

from pathlib import Path

from data_support import austen_paragraphs

from voiced.config import Config, DatasetSettings, TrainingSettings, VoiceConfig, save_config
from voiced.corpus.scanner import scan
from voiced.corpus.store import CorpusStore


def make_voice(tmp_path: Path, documents: int = 24, paragraphs_per_document: int = 2, **voice_fields) -> Config:
    """Write ``documents`` short notes, configure the voice "austen" for quick runs, scan it."""
    folder = tmp_path / "notes"
    folder.mkdir()
    paragraphs = [p for p in austen_paragraphs("persuasion", min_words=15) if len(p.split()) < 60]
    for index in range(documents):
        chunk = paragraphs[index * paragraphs_per_document : (index + 1) * paragraphs_per_document]
        (folder / f"note-{index:02d}.txt").write_text("\n\n".join(chunk) + "\n", encoding="utf-8")
    config = Config(
        voices={"austen": VoiceConfig(name="austen", folders=[str(folder)], **voice_fields)},
        dataset=DatasetSettings(min_corpus_words=300, max_example_tokens=256, valid_fraction=0.15, test_fraction=0.25),
        training=TrainingSettings(
            batch_size=2,
            epochs=3,
            max_steps=6,
            eval_every=3,
            patience=0,
            max_minutes=0,
            learning_rate=2e-3,
            warmup_fraction=0.1,
            device="cpu",
            torch_threads=1,
            lora_rank=8,
        ),
    )
    save_config(config)
    with CorpusStore.open() as store:
        scan(store, config)
    return config


def fake_adapter(folder: Path, payload: bytes = b"\0" * 64) -> Path:
    """Files with the registry's expected names; the registry copies them and never parses them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_model.safetensors").write_bytes(payload)
    (folder / "adapter_config.json").write_text('{"r": 4}')
    (folder / "adapter.gguf").write_bytes(b"GGUF" + payload)
    return folder
