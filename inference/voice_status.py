"""What the engine reports per voice (``Engine.status()``): typed, so the daemon's ``/v1/status`` schema
(voiced.daemon.schemas.VoiceEngineStatus) mirrors one definition instead of a dict read by key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RebuildState = Literal["running", "done", "failed"]


@dataclass(frozen=True)
class Rebuild:
    """A GGUF LoRA being rebuilt from its intact PEFT adapter (llama.cpp refused the file)."""

    version: int
    state: RebuildState
    reason: str | None = None  # why it failed


@dataclass(frozen=True)
class VoiceStatus:
    """One voice as the engine serves it now; the registry's view of the same voice is beside it."""

    loaded: bool  # the model is in memory
    backend: str | None  # "llama.cpp", "transformers", "mlx"; None until loaded
    base_model: str  # the file or folder loaded, or the voice's base_model setting until then
    adapter: str | None  # the file or folder the runtime loaded; None: the base model alone
    adapter_version: int | None  # the registry version served; None: the base model
    registry_version: int | None  # the registry's active version at the last check
    registry_changed: bool  # the registry changed since; applied at the next request
    notice: str | None  # why the base model serves a voice whose registry names a version
    rebuild: Rebuild | None
    queue_depth: int
    busy: bool

    @classmethod
    def not_loaded(cls, base_model: str) -> VoiceStatus:
        """A voice whose model is not in memory (yet): nothing served, nothing queued."""
        return cls(
            loaded=False,
            backend=None,
            base_model=base_model,
            adapter=None,
            adapter_version=None,
            registry_version=None,
            registry_changed=False,
            notice=None,
            rebuild=None,
            queue_depth=0,
            busy=False,
        )
