"""The base model's rewrites of the voice gate's drafts, remembered between training jobs.

When the reference is the base model (a voice's first versions, or a damaged
active adapter), the "voice" gate rewrites the same fixed held-out drafts with
it every run: greedy, the same seed and settings, so the same words. This module
keeps those rewrites in the user's state directory
(``state_dir/gate/base-rewrites-<voice>.json``, a private file: it holds prose)
under a key of everything they depend on: the base model's identity (as
:mod:`voiced.trainer.nll_cache` names it: setting, content hash, file size and
mtime), the drafts themselves, the generation parameters, the engine's
``[inference]`` settings, the voice's system prompt, the daemon's token cap, and
the llama-cpp-python and voiced versions. With ``[inference] voice_examples``
above 0 the prompts quote the training split, which the key does not name, so
the job does not cache then.

Each entry holds the rewrites and which drafts the rewrite guard gave back in their
place (the gate judges what the writer is served). An entry is used only if it holds
one text per draft; a file that is not JSON,
has another schema or holds anything else is ignored and rewritten. Only the
base side is cached: an adapter's rewrites are made fresh every run.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from voiced.paths import Paths
from voiced.trainer.nll_cache import package_version, put_entry, read_entries

SCHEMA = 1
KEEP = 8  # draft sets per voice: the held-out drafts and the training-family ones, for a few bases


def cache_path(paths: Paths, voice: str) -> Path:
    return paths.state_dir / "gate" / f"base-rewrites-{voice}.json"


def drafts_digest(drafts: list[str]) -> str:
    return hashlib.sha256(json.dumps(drafts).encode("utf-8")).hexdigest()


class BaseRewrites:
    """The cache of one voice's base-model rewrites; ``base_key`` None (a base without a content hash)
    turns it off. ``hits`` and ``misses`` count the draft sets served from it and made fresh."""

    def __init__(self, path: Path, base_key: dict[str, Any] | None) -> None:
        self.path, self.base_key = path, base_key
        self.hits = self.misses = 0
        self.notes: list[str] = []

    @classmethod
    def for_job(
        cls,
        paths: Paths,
        voice: str,
        base: dict[str, Any] | None,
        generation: dict[str, Any],
        inference: dict[str, Any],
    ) -> BaseRewrites:
        """``base``: :func:`voiced.trainer.nll_cache.base_identity`; ``generation``: how the gate decodes
        (temperature, seed, max_tokens); ``inference``: the engine's ``[inference]`` settings, the voice's
        system prompt and the daemon's token cap: everything else a base-model rewrite depends on."""
        key = None
        if base is not None:
            key = {
                "base": base,
                "generation": generation,
                "inference": inference,
                "versions": {
                    "llama-cpp-python": package_version("llama-cpp-python"),
                    "voiced": package_version("voiced"),
                },
            }
        return cls(cache_path(paths, voice), key)

    def _key(self, drafts: list[str]) -> dict[str, Any] | None:
        if self.base_key is None:
            return None
        return {**self.base_key, "drafts": drafts_digest(drafts), "count": len(drafts)}

    def get(self, drafts: list[str]) -> tuple[list[str], dict[int, str]] | None:
        """The base model's rewrites of exactly these drafts, if cached and whole, and the drafts the rewrite
        guard gave back in their place (index -> the guard's code)."""
        key = self._key(drafts)
        if key is None:
            return None
        entries = read_entries(self.path, SCHEMA)
        if entries is None:
            self.notes.append("the cache of base-model rewrites was unreadable and is rewritten")
            return None
        for entry in entries:
            if entry["key"] == key:
                outputs, kept = entry.get("outputs"), entry.get("kept_draft")
                if (
                    isinstance(outputs, list)
                    and len(outputs) == len(drafts)
                    and all(isinstance(o, str) for o in outputs)
                    and isinstance(kept, dict)
                    and all(k.isdigit() and int(k) < len(drafts) and isinstance(v, str) for k, v in kept.items())
                ):
                    self.hits += 1
                    return [str(o) for o in outputs], {int(k): str(v) for k, v in kept.items()}
                self.notes.append("a cached set of base-model rewrites did not match its drafts and is rewritten")
                return None
        return None

    def put(self, drafts: list[str], outputs: list[str], kept_draft: dict[int, str]) -> None:
        key = self._key(drafts)
        self.misses += 1
        if key is None:
            return
        entry = {
            "key": key,
            "outputs": list(outputs),
            "kept_draft": {str(index): code for index, code in kept_draft.items()},
            "stored": time.time(),
        }
        try:
            put_entry(self.path, entry, KEEP, SCHEMA)
        except OSError as exc:  # a cache that cannot be written only costs the next run the same rewrites
            self.notes.append(f"the base model's rewrites were not cached: {exc}")
