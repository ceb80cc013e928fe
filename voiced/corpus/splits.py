"""Which documents of a voice train, validate and test: one rule for the dataset builder and the engine.

A document's split comes from a hash of its key (its path inside the voice's
folder), so it stays put as the corpus grows; the last saved build's assignment
is carried forward under the same rule, so a document once held out stays held
out. The engine's voice examples (voiced.inference.voice_examples) draw from
the training split only, by this same rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from voiced.config import DatasetSettings

SPLITS = ("train", "valid", "test")


def dataset_dir(data_dir: Path, voice: str) -> Path:
    """Where a voice's built dataset lives (train/valid/test JSONL and summary.json)."""
    return Path(data_dir) / "datasets" / voice


def document_key(path: str, folders: Iterable[str] = ()) -> str:
    """The path relative to the voice folder holding it (POSIX), else the path as stored."""
    target = Path(path)
    for folder in folders:
        base = Path(folder).expanduser()
        if target.is_relative_to(base):
            return target.relative_to(base).as_posix()
    return target.as_posix()


def hash_fraction(key: str) -> float:
    """A stable number in [0, 1) for a document key."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def split_of(key: str, valid_fraction: float, test_fraction: float) -> str:
    u = hash_fraction(key)
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"


def split_rule(settings: DatasetSettings) -> dict[str, float]:
    """The settings that shape the split; a saved split is carried into the next build only under the same rule."""
    return {"valid_fraction": settings.valid_fraction, "test_fraction": settings.test_fraction}


def assign_splits(
    keys: Iterable[str], valid_fraction: float, test_fraction: float, previous: dict[str, str] | None = None
) -> dict[str, str]:
    """Hash rule per document; with 3+ documents, an empty valid or test split takes the training
    document with the lowest hash (deterministic; only tiny corpora need it). Documents in
    ``previous`` (the last build's assignment) keep their split, so a fallback choice also stays held out."""
    previous = previous or {}
    splits = {
        key: previous[key] if previous.get(key) in SPLITS else split_of(key, valid_fraction, test_fraction)
        for key in sorted(set(keys))
    }
    if len(splits) >= 3:
        for wanted in ("test", "valid"):
            if wanted not in splits.values():
                spare = sorted((k for k, s in splits.items() if s == "train"), key=hash_fraction)
                splits[spare[0]] = wanted
    return splits


def saved_document_splits(directory: Path, rule: dict[str, float]) -> dict[str, str]:
    """The document -> split map of the last saved build, when it was made under ``rule``.

    Empty when there is none, it is unreadable, or other settings made it (a
    build without a recorded rule included): a split made under settings since
    changed (a ``valid_fraction`` that held every document out) must not outlive them.
    """
    try:
        summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
        if summary.get("split_rule") != rule:
            return {}
        return {str(k): str(v) for k, v in dict(summary.get("document_splits", {})).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
