"""Before the active pointer moves: which runtime will serve the voice, and can it load the version?

The CLI and the daemon's manage API both ask here, so a pointer is never
written naming a version its runtime cannot load. A damaged GGUF LoRA is
derived data: when the version's PEFT adapter (the source of truth) is intact,
it is exported again instead of refusing the version.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from voiced.adapter_check import check_gguf_lora
from voiced.private_files import make_private_dir, sync_folder
from voiced.registry import GGUF_FILE, TMP_PREFIX, CorruptAdapter, Version, runtime_for_base


def serving_runtime(base_model: str) -> str | None:
    """The runtime that serves a voice with this ``base_model`` setting; None when the base cannot be found
    (then nothing can be served and the daemon says why on its own)."""
    from voiced.models import ModelNotFound, resolve_base_model

    try:
        return runtime_for_base(resolve_base_model(base_model).kind)
    except ModelNotFound:
        return None


def usable_for(version: Version, runtime: str, base_model: str) -> list[str]:
    """Raise :class:`CorruptAdapter` unless ``runtime`` can load ``version``; returns what was repaired."""
    try:
        version.validate(runtime)
        return []
    except CorruptAdapter as damaged:
        if runtime != "llama.cpp" or not _peft_intact(version):
            raise
        base = _base_gguf(base_model)
        if base is None:
            raise
        try:
            rebuilt = rebuild_gguf(version, base)
        except Exception as exc:  # noqa: BLE001 - the export's own error says why; the damage is reported
            raise CorruptAdapter(
                f"{damaged.message} Rebuilding it from the PEFT adapter failed too ({exc}).",
                damaged.fix,
                path=damaged.path,
                version=version.number,
                runtime=runtime,
            ) from exc
        version.validate(runtime)
        return [f"{damaged.message} It was rebuilt from the intact PEFT adapter: {rebuilt}."]


def _peft_intact(version: Version) -> bool:
    try:
        version.validate("transformers")
    except CorruptAdapter:
        return False
    return True


def _base_gguf(base_model: str) -> Path | None:
    from voiced.models import ModelNotFound, resolve_base_model

    try:
        ref = resolve_base_model(base_model)
    except ModelNotFound:
        return None
    return Path(ref.location) if ref.kind == "gguf" else None


def rebuild_gguf(version: Version, base_gguf: Path) -> Path:
    """Export the version's PEFT adapter again as its GGUF LoRA, check it, then rename it over the broken one.

    Built in a ``.tmp-`` folder of the registry (removed by the registry's
    recovery if this process dies), so the version folder only ever holds
    the old file or the complete new one.
    """
    from voiced.trainer.gguf_lora import export_gguf_lora

    scratch = version.path.parent.parent / f"{TMP_PREFIX}rebuild-{version.number}-{uuid.uuid4().hex[:8]}"
    make_private_dir(scratch)
    try:
        built = export_gguf_lora(version.adapter_dir, base_gguf, scratch / GGUF_FILE)
        check_gguf_lora(built)
        target = version.path / GGUF_FILE
        os.replace(built, target)
        sync_folder(version.path)
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
