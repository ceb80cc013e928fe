"""The base model's test NLL, remembered between training jobs.

The gate scores the base model on the voice's test split every run, although
neither changes from one night to the next while the writer adds prose to
documents of the training split. This module keeps that score in the user's
state directory (``state_dir/gate/base-nll-<voice>.json``, a private file) under
a key of everything the number depends on:

- the exact tokens scored: a SHA-256 of every test example's input ids, labels
  and pad id (so a changed test split, system prompt, tokenizer or
  ``max_example_tokens`` is a new key);
- the base model: its setting, kind, content hash (the manifest's
  ``base_model.sha256``), and the file's or weight files' path, size and mtime;
- how it was scored: ``[adapters] gate_batch_size``, device, dtype, and the
  torch and transformers versions.

A hit is used only if the entry also agrees with what it claims: the number
of examples and of scored response tokens must be those of the examples at
hand, and the NLL a finite positive float. A file that is not JSON, has
another schema, or holds an entry that fails these checks is ignored, and the
freshly computed score is written over it. Bases without a content hash (hub
ids) are never cached: nothing would notice the weights changing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiced.paths import Paths
from voiced.private_files import make_private_dirs, write_private
from voiced.trainer.tokenize import IGNORE_INDEX, example_field

SCHEMA = 1
KEEP = 4  # entries per voice: switching between a few bases (or back after a corpus edit) still hits

# How a lookup ended, as the progress event and the manifest name it.
HIT = "cache"
MISS = "computed"
STALE = "computed (no cached score for this test split and base)"
CORRUPT = "computed (the cache was unreadable and is rewritten)"
UNCACHEABLE = "computed (a base without a content hash is not cached)"


def cache_path(paths: Paths, voice: str) -> Path:
    return paths.state_dir / "gate" / f"base-nll-{voice}.json"


def scored_tokens(examples: Sequence[Any]) -> int:
    """Response tokens ``response_nll`` counts: labels other than -100 after the first position."""
    return sum(sum(1 for label in example_field(ex, "labels")[1:] if label != IGNORE_INDEX) for ex in examples)


def examples_digest(examples: Sequence[Any]) -> str:
    """SHA-256 of the examples in order: their input ids, labels and pad id."""
    digest = hashlib.sha256()
    for ex in examples:
        pad = ex.get("pad_id", 0) if isinstance(ex, dict) else getattr(ex, "pad_id", 0)
        digest.update(json.dumps([example_field(ex, "input_ids"), example_field(ex, "labels"), pad]).encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def _file_identity(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def base_identity(ref: Any, info: Any) -> dict[str, Any] | None:
    """The base model as the key names it, or None when it cannot be identified by content (hub ids)."""
    if not info.sha256:
        return None
    if ref.kind == "gguf":
        files = [_file_identity(ref.path)]
    else:
        files = [_file_identity(p) for p in sorted(ref.path.glob("*.safetensors"))]
    return {"spec": ref.spec, "kind": ref.kind, "sha256": info.sha256, "files": files}


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def cache_key(
    ref: Any, info: Any, examples: Sequence[Any], *, batch_size: int, device: str, dtype: str
) -> dict[str, Any] | None:
    """Everything the base model's test NLL depends on; None when the base cannot be cached."""
    base = base_identity(ref, info)
    if base is None:
        return None
    return {
        "base": base,
        "test": {"digest": examples_digest(examples), "examples": len(examples)},
        "scoring": {
            "batch_size": batch_size,
            "device": device,
            "dtype": dtype.removeprefix("torch."),
            "torch": package_version("torch"),
            "transformers": package_version("transformers"),
        },
    }


@dataclass(frozen=True)
class CachedNll:
    nll: float
    tokens: int
    examples: int


def read_entries(path: Path, schema: int = SCHEMA) -> list[dict[str, Any]] | None:
    """A cache file's entries, each a dict with a "key" dict; [] for a missing file, None for a malformed one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("schema") != schema or not isinstance(data.get("entries"), list):
        return None
    entries = data["entries"]
    if not all(isinstance(e, dict) and isinstance(e.get("key"), dict) for e in entries):
        return None
    return entries


def put_entry(path: Path, entry: dict[str, Any], keep: int, schema: int = SCHEMA) -> None:
    """Write ``entry`` first and the newest ``keep - 1`` others with another key (a malformed file is replaced)."""
    kept = [e for e in read_entries(path, schema) or [] if e["key"] != entry["key"]][: keep - 1]
    make_private_dirs(path.parent)
    write_private(path, json.dumps({"schema": schema, "entries": [entry, *kept]}), durable=False)


def _valid(entry: dict[str, Any], examples: Sequence[Any]) -> CachedNll | None:
    nll, tokens, count = entry.get("nll"), entry.get("tokens"), entry.get("examples")
    if not isinstance(nll, float) or not math.isfinite(nll) or nll <= 0:
        return None
    if type(tokens) is not int or type(count) is not int:
        return None
    if count != len(examples) or tokens != scored_tokens(examples):
        return None
    return CachedNll(nll, tokens, count)


def lookup(path: Path, key: dict[str, Any] | None, examples: Sequence[Any]) -> tuple[CachedNll | None, str]:
    """(the cached score or None, how the lookup ended: HIT, MISS, STALE, CORRUPT or UNCACHEABLE)."""
    if key is None:
        return None, UNCACHEABLE
    entries = read_entries(path)
    if entries is None:
        return None, CORRUPT
    for entry in entries:
        if entry["key"] == key:
            found = _valid(entry, examples)
            return (found, HIT) if found is not None else (None, CORRUPT)
    return None, STALE if entries else MISS


def store(path: Path, key: dict[str, Any] | None, nll: float, tokens: int, examples: int) -> None:
    """Put this score first; keep the newest ``KEEP`` entries; an unreadable file is replaced."""
    if key is None:
        return
    entry = {"key": key, "nll": float(nll), "tokens": int(tokens), "examples": int(examples), "stored": time.time()}
    put_entry(path, entry, KEEP)
