"""Exporting one registry version for other tools: an Ollama folder (Modelfile + GGUF LoRA) and a merged model.

The formats themselves are written by ``voiced.trainer.merge_export``; this
module only finds the version's files and its base model.
"""

from __future__ import annotations

from pathlib import Path

from voiced.config import VoiceConfig
from voiced.registry import Registry
from voiced.trainer.merge_export import ExportError, export_merged, export_ollama

__all__ = ["ExportError", "export_version"]


def export_version(
    registry: Registry, number: int, out_dir: Path, voice: VoiceConfig, *, merged: bool = True
) -> dict[str, Path]:
    """Write ``out_dir/ollama`` (Modelfile using ADAPTER, adapter.gguf) and ``out_dir/merged``.

    Returns the folders by label."""
    version = registry.get(number)
    if version.status in ("training", "failed"):
        raise ExportError(f"v{number} is {version.status} and has no adapter to export; pick another version.")
    base = version.manifest.base_model.id or voice.base_model
    _check_intact(version, base)
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if version.artifact("llama.cpp") is not None:
        written["Ollama Modelfile"] = export_ollama(
            version.adapter_dir, version.gguf_path, base, out_dir / "ollama", voice.system_prompt
        )
        written["GGUF LoRA"] = out_dir / "ollama" / "adapter.gguf"
    if merged:
        written["merged model"] = export_merged(version.adapter_dir, base, out_dir / "merged")
    if not written:
        raise ExportError(
            f"v{number} has no GGUF LoRA (its base {base!r} is not a GGUF model); "
            "drop --no-merged to export a merged model instead."
        )
    return written


def _check_intact(version, base: str) -> None:
    """Never hand out a damaged file: the PEFT source must read back, and a damaged GGUF LoRA is rebuilt
    from it first (CorruptAdapter, naming the file, when it cannot be)."""
    from voiced.trainer.serving import usable_for

    version.validate("transformers")
    if version.artifact("llama.cpp") is not None:
        usable_for(version, "llama.cpp", base)
