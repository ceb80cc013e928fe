"""Routes that look after the voice rather than generate: corpus stats, adapters, training.

The adapter registry and the training job runner are optional parts: when
this build lacks them the routes answer 501 with a message, so clients can
tell "not there" from "broken".
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from fastapi import APIRouter, Depends, Request

from voiced.daemon import schemas
from voiced.daemon.api import ERROR_RESPONSES, ApiError, _context, require_token, resolve_voice

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=ERROR_RESPONSES,
                   tags=["manage"])


def _optional(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ApiError(501, f"{what} is not available in this build of voiced ({exc}).",
                       type="not_implemented", code="not_available") from None


@router.get("/corpus", summary="Corpus statistics per voice and folder")
def corpus(request: Request, voice: str | None = None) -> dict:
    ctx = _context(request)
    if voice is not None:
        resolve_voice(ctx, voice)
    store_module = _optional("voiced.corpus.store", "The corpus store")
    if not ctx.paths.corpus_db.exists():
        return {"voices": {}}
    with store_module.CorpusStore.open(ctx.paths) as store:
        stats = store.stats(voice)
    return dataclasses.asdict(stats)


@router.get("/adapters", summary="Adapter versions of each voice and which one is active")
def adapters(request: Request, voice: str | None = None) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.trainer.registry", "The adapter registry")
    return registry_listing(registry, ctx, name)


@router.post("/adapters/{voice}/activate", summary="Make an adapter version the active one")
def activate(request: Request, voice: str, body: schemas.ActivateRequest) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.trainer.registry", "The adapter registry")
    return registry_activate(registry, ctx, name, body.version)


@router.post("/adapters/{voice}/rollback", summary="Go back to the previously active adapter version")
def rollback(request: Request, voice: str) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, voice)
    registry = _optional("voiced.trainer.registry", "The adapter registry")
    return registry_rollback(registry, ctx, name)


@router.post("/train", summary="Start training a voice's adapter in a child process")
def train_start(request: Request, body: schemas.TrainRequest) -> dict:
    ctx = _context(request)
    name = resolve_voice(ctx, body.voice)
    jobs = _training(ctx)
    overrides = {key: value for key, value in (("max_steps", body.max_steps), ("max_minutes", body.max_minutes))
                 if value is not None}
    from voiced.daemon.training import TrainingBusy

    try:
        return jobs.start(name, overrides)
    except TrainingBusy as exc:
        raise ApiError(409, str(exc), type="conflict", code="training_running") from exc


@router.get("/train", summary="Progress of the current or last training run")
def train_progress(request: Request) -> dict:
    return _training(_context(request)).progress()


@router.post("/train/cancel", summary="Stop the running training")
def train_cancel(request: Request) -> dict:
    return _training(_context(request)).cancel()


def _training(ctx: Any) -> Any:
    if ctx.training is None:
        raise ApiError(501, "Training from the daemon is not available in this build of voiced. "
                            "Run `voiced train` instead.", type="not_implemented", code="not_available")
    return ctx.training


# --- the registry's side (voiced.trainer.registry owns the files; the engine is told of changes) -----

def _version_dict(version: Any) -> dict:
    return {"version": version.number, "status": version.status, "active": version.is_active,
            "reason": version.reason, "manifest": version.manifest}


def _registry_call(registry: Any, action: Any) -> Any:
    try:
        return action()
    except registry.RegistryError as exc:
        code = 404 if "has no adapter version" in str(exc) else 409
        raise ApiError(code, str(exc), type="registry_error", code="registry_error") from exc


def registry_listing(registry: Any, ctx: Any, voice: str) -> dict:
    reg = _registry_call(registry, lambda: registry.Registry.open(voice, ctx.paths))
    versions = _registry_call(registry, reg.versions)
    return {"voice": voice, "active": _registry_call(registry, reg.active_version),
            "history": _registry_call(registry, reg.history), "versions": [_version_dict(v) for v in versions]}


def _swap_engine_adapter(ctx: Any, voice: str, version: Any) -> None:
    """Hot-swap the engine's adapter to match the registry (None: the base model alone)."""
    if ctx.engine is None:
        return
    gguf = version.gguf_path if version is not None and version.gguf_path.exists() else None
    try:
        ctx.engine.set_adapter(voice, gguf)
    except Exception as exc:  # the registry changed; the engine keeps serving the old adapter
        raise ApiError(503, f"The registry now names this adapter, but the model could not switch to it: {exc}",
                       type="model_unavailable", code="engine_error") from exc


def registry_activate(registry: Any, ctx: Any, voice: str, version: int) -> dict:
    reg = _registry_call(registry, lambda: registry.Registry.open(voice, ctx.paths))
    activated = _registry_call(registry, lambda: reg.activate(version))
    _swap_engine_adapter(ctx, voice, activated)
    return registry_listing(registry, ctx, voice)


def registry_rollback(registry: Any, ctx: Any, voice: str) -> dict:
    reg = _registry_call(registry, lambda: registry.Registry.open(voice, ctx.paths))
    previous = _registry_call(registry, reg.rollback)
    _swap_engine_adapter(ctx, voice, reg.get(previous) if previous is not None else None)
    return registry_listing(registry, ctx, voice)
