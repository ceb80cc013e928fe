"""Routes that look after the voice rather than generate: corpus stats, adapters, training.

The adapter registry and the training job runner are optional parts: when
this build lacks them the routes answer 501 with a message, so clients can
tell "not there" from "broken".
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request

from voiced.daemon import schemas
from voiced.daemon.api import ERROR_RESPONSES, ApiError, _context, require_token, resolve_voice

if TYPE_CHECKING:
    from voiced.inference.voice_status import VoiceStatus

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=ERROR_RESPONSES, tags=["manage"])


def _optional(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ApiError(
            501,
            f"{what} is not available in this build of voiced ({exc}).",
            type="not_implemented",
            code="not_available",
        ) from None


@router.get("/corpus", summary="Corpus statistics per voice and folder")
def corpus(request: Request, voice: str | None = None) -> dict:
    ctx = _context(request)
    if voice is not None:
        resolve_voice(ctx, voice)
    store_module = _optional("voiced.corpus.store", "The corpus store")
    if not ctx.paths.corpus_db.exists():
        return {"voices": {}}
    # A damaged database raises CorpusError: the app answers it by its type (503), in the CLI's words.
    with store_module.CorpusStore.open(ctx.paths) as store:
        stats = store.stats(voice)
    return dataclasses.asdict(stats)


@router.get("/adapters", summary="Adapter versions of each voice and which one is active")
def adapters(request: Request, voice: str | None = None) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.registry", "The adapter registry")
    return registry_listing(registry, ctx, name)


@router.post("/adapters/{voice}/activate", summary="Make an adapter version the active one")
def activate(request: Request, voice: str, body: schemas.ActivateRequest) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.registry", "The adapter registry")
    return registry_activate(registry, ctx, name, body.version)


@router.post("/adapters/{voice}/rollback", summary="Go back to the previously active adapter version")
def rollback(request: Request, voice: str) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.registry", "The adapter registry")
    return registry_rollback(registry, ctx, name)


@router.post("/adapters/{voice}/reload", summary="Serve the registry's active version now (after an outside change)")
def reload(request: Request, voice: str) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.registry", "The adapter registry")
    return registry_reload(registry, ctx, name)


@router.post("/train", summary="Start training a voice's adapter in a child process")
def train_start(request: Request, body: schemas.TrainRequest) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, body.voice)
    jobs = _training(ctx)
    overrides = {
        key: value
        for key, value in (("max_steps", body.max_steps), ("max_minutes", body.max_minutes))
        if value is not None
    }
    return jobs.start(name, overrides)  # TrainingBusy is a 409 by its type


@router.get("/train", summary="Progress of the current or last training run")
def train_progress(request: Request) -> dict:
    return _training(_context(request)).progress()


@router.post("/train/cancel", summary="Stop the running training")
def train_cancel(request: Request) -> dict:
    return _training(_context(request)).cancel()


def _training(ctx: Any) -> Any:
    if ctx.training is None:
        raise ApiError(
            501,
            "Training from the daemon is not available in this build of voiced. Run `voiced train` instead.",
            type="not_implemented",
            code="not_available",
        )
    return ctx.training


# --- the registry's side (voiced.registry owns the files; the engine is told of changes) -----
# Its errors reach the app's handler, which answers each by its type (voiced.daemon.error_status).


def _version_dict(version: Any) -> dict:
    return {
        "version": version.number,
        "status": version.status,
        "verdict": version.verdict,
        "active": version.is_active,
        "reason": version.reason,
        "manifest": version.manifest.to_dict(),
    }


def registry_listing(registry: Any, ctx: Any, voice: str) -> dict:
    reg = registry.Registry.open(voice, ctx.paths)
    versions = reg.versions()
    listing = {
        "voice": voice,
        "active": reg.active_version(),
        "history": reg.history(),
        "versions": [_version_dict(v) for v in versions],
    }
    notes = reg.pointer_notes()
    if notes:
        listing["warnings"] = notes
    return listing


def _serve_or_undo(registry: Any, ctx: Any, reg: Any, voice: str, before: dict, after: dict) -> None:
    """Have the engine serve the registry's new active version; if it cannot, put the pointer back.

    So the registry never names a version the engine is not serving: the
    answer is an error saying why, and the previous version is served again.
    """
    if ctx.engine is None or after["serial"] == before["serial"]:
        return
    served: VoiceStatus | None = None
    try:
        served = ctx.engine.refresh(voice)
        problem = None
        if served.loaded and served.adapter_version != after["version"]:
            problem = served.notice or f"the model serves {_named(served.adapter_version)} instead"
    except Exception as exc:  # noqa: BLE001 - any engine failure undoes the change
        problem = str(exc).split("\n")[0]
    if problem is None:
        return
    restored = reg.restore_pointer(before, after["serial"])
    with contextlib.suppress(Exception):
        ctx.engine.refresh(voice)
    kept = _named(before["version"]) if restored else "what another process chose meanwhile"
    raise ApiError(
        503,
        f"The model could not switch voice {voice!r} to {_named(after['version'])}: {problem}. "
        f"The registry was set back, and {kept} is still the active adapter." + _retry_hint(served, after["version"]),
        type="model_unavailable",
        code="engine_error",
    )


def _retry_hint(served: VoiceStatus | None, version: int | None) -> str:
    """The engine rebuilds a GGUF LoRA llama.cpp refused from an intact PEFT source: then a retry works."""
    rebuild = served.rebuild if served is not None else None
    if version is None or rebuild is None or rebuild.version != version or rebuild.state not in ("running", "done"):
        return ""
    return f" Its GGUF LoRA is being rebuilt from its PEFT adapter; activate v{version} again in a moment."


def _named(version: int | None) -> str:
    return f"v{version}" if version is not None else "the base model"


def _checked(registry: Any, ctx: Any, voice: str, version: Any) -> str | None:
    """Validate ``version`` for the runtime that will serve the voice, rebuilding a damaged GGUF LoRA from an
    intact PEFT source first; returns that runtime (None when the base model cannot be resolved)."""
    serving = _optional("voiced.trainer.serving", "The adapter registry")
    base_model = ctx.config.voice(voice).base_model
    runtime = serving.serving_runtime(base_model)
    if runtime is not None:
        serving.usable_for(version, runtime, base_model)
    return runtime


def registry_activate(registry: Any, ctx: Any, voice: str, version: int) -> dict:
    reg = registry.Registry.open(voice, ctx.paths)
    runtime = _checked(registry, ctx, voice, reg.get(version))
    before = reg.pointer_snapshot()
    reg.activate(version, runtime=runtime)
    _serve_or_undo(registry, ctx, reg, voice, before, reg.pointer_snapshot())
    return registry_listing(registry, ctx, voice)


def registry_rollback(registry: Any, ctx: Any, voice: str) -> dict:
    reg = registry.Registry.open(voice, ctx.paths)
    target = reg.rollback_target()
    runtime = _checked(registry, ctx, voice, reg.get(target)) if target is not None else None
    before = reg.pointer_snapshot()
    reg.rollback(runtime=runtime)
    _serve_or_undo(registry, ctx, reg, voice, before, reg.pointer_snapshot())
    return registry_listing(registry, ctx, voice)


def registry_reload(registry: Any, ctx: Any, voice: str) -> dict:
    """The registry changed elsewhere (the CLI): serve its active version now and say what is served."""
    listing = registry_listing(registry, ctx, voice)
    if ctx.engine is not None:
        try:
            listing["served"] = dataclasses.asdict(ctx.engine.refresh(voice))
        except Exception as exc:  # noqa: BLE001 - the registry is the truth; the engine says why it lags
            raise ApiError(
                503,
                f"The model could not load voice {voice!r}'s active adapter: {exc}",
                type="model_unavailable",
                code="engine_error",
            ) from exc
    return listing
