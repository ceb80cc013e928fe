"""Gather what `voiced status` shows from what the daemon, the registry and the corpus record.

Nothing heavy happens here (no model, no torch): manifests, the corpus's
SQL totals, ``training.json``, ``scheduler.json`` and the daemon's
``/v1/status``. It works with the daemon down and says so. The registry's
active version and the version the daemon actually serves are shown side
by side, because they can differ (a damaged adapter, a change not yet
applied).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voiced.config import Config
from voiced.paths import Paths, get_paths

if TYPE_CHECKING:
    from voiced.daemon.schemas import VoiceEngineStatus


def _adapter_summary(voice: str, paths: Paths) -> dict[str, Any]:
    from voiced.registry import Registry, RegistryError

    try:
        registry = Registry.open(voice, paths, recover=False)
        versions = registry.versions()
    except (RegistryError, OSError) as exc:
        return {"error": str(exc), "active": None, "candidates": 0, "rejected": 0, "latest_rejected_reason": None}
    active = next((v for v in versions if v.is_active), None)
    rejected = [v for v in versions if v.status == "rejected"]  # failed runs were never judged
    summary: dict[str, Any] = {
        "active": None,
        "candidates": sum(1 for v in versions if v.status == "candidate"),
        "rejected": len(rejected),
        "latest_rejected_reason": rejected[-1].reason if rejected else None,
        "versions": len(versions),
    }
    if active is not None:
        manifest = active.manifest
        summary["active"] = {
            "version": active.number,
            "trained": manifest.finished or manifest.created,
            "created": manifest.created,
            "words": manifest.corpus.words,
            "test_nll": dict(manifest.scores.test_nll),
        }
    return summary


def _corpus_summary(voice: str, paths: Paths) -> dict[str, Any]:
    from voiced.daemon.scheduler import active_adapter_time

    if not paths.corpus_db.exists():
        return {"words": 0, "documents": 0, "new_words": 0}
    from voiced.corpus.store import CorpusError, CorpusStore

    try:
        with CorpusStore.open(paths) as store:
            stats = store.stats(voice).voice(voice)
            new_words = store.words_changed_since(voice, active_adapter_time(voice, paths))
    except CorpusError as exc:  # a damaged database: show the rest, and say what to do
        return {"words": 0, "documents": 0, "new_words": 0, "error": str(exc)}
    return {"words": stats.words, "documents": stats.documents, "new_words": new_words}


def _feedback_summary(voice: str, active: int | None, paths: Paths) -> dict[str, Any]:
    """How often the writer accepted the active adapter's proposals (voiced.corpus.feedback)."""
    from voiced.corpus.feedback import feedback_summary
    from voiced.corpus.store import CorpusError

    try:
        summaries = feedback_summary(paths, voice)
    except CorpusError as exc:  # the corpus summary says what to do
        return {
            "version": active,
            "shown": 0,
            "accepted": 0,
            "acceptance_rate": None,
            "undo_rate": None,
            "error": str(exc),
        }
    mine = next((s for s in summaries if s.adapter_version == active), None)
    return {
        "version": active,
        "shown": mine.shown if mine else 0,
        "accepted": mine.accepted + mine.edited + mine.kept if mine else 0,
        "acceptance_rate": mine.acceptance_rate if mine else None,
        "undo_rate": mine.undo_rate if mine else None,
    }


def _daemon_summary(paths: Paths) -> dict[str, Any]:
    from voiced.daemon.process import daemon_status

    status = daemon_status(paths)
    if not status.running or status.record is None:
        return {"running": False}
    engine = _engine_voices(status.details or {})
    return {
        "running": True,
        "pid": status.record.pid,
        "port": status.record.port,
        "uptime_seconds": status.uptime_seconds,
        "rss_bytes": process_rss(status.record.pid),
        "models_loaded": sorted(name for name, voice in engine.items() if voice.loaded),
        "answering": status.details is not None,
        "engine": engine,
    }


def _engine_voices(details: dict[str, Any]) -> dict[str, VoiceEngineStatus]:
    """/v1/status's engine part, typed; a voice described in another shape (a daemon of another voiced
    version) is left out rather than guessed at."""
    from pydantic import ValidationError

    from voiced.daemon.schemas import VoiceEngineStatus

    engine = details.get("engine")
    voices = {}
    for name, described in (engine if isinstance(engine, dict) else {}).items():
        try:
            voices[name] = VoiceEngineStatus.model_validate(described)
        except ValidationError:
            continue
    return voices


def served_summary(engine_voice: VoiceEngineStatus | None, registry_active: int | None) -> dict[str, Any] | None:
    """What the daemon serves for a voice next to what the registry says (None: the daemon is not running).

    ``differs`` is true when the loaded model serves another version than the registry's active one:
    a damaged adapter (``notice`` says why and what to do), or a change the daemon applies at its next
    request (``pending``)."""
    if engine_voice is None:
        return None
    if not engine_voice.loaded:
        return {
            "loaded": False,
            "version": None,
            "adapter": None,
            "notice": None,
            "rebuild": None,
            "pending": False,
            "differs": False,
        }
    version = engine_voice.adapter_version
    return {
        "loaded": True,
        "version": version,
        "adapter": engine_voice.adapter,
        "backend": engine_voice.backend,
        "notice": engine_voice.notice,
        "rebuild": engine_voice.rebuild.model_dump() if engine_voice.rebuild else None,
        "pending": engine_voice.registry_changed,
        "differs": version != registry_active,
    }


def process_rss(pid: int) -> int | None:
    """Resident memory of a process in bytes (None when it cannot be read)."""
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:  # noqa: BLE001 - gone, or not ours to read
        return None


def _next_training(config: Config, paths: Paths) -> float | None:
    from voiced.daemon.scheduler import next_run_after, read_schedule_state

    if not config.scheduler.enabled:
        return None
    last_run = read_schedule_state(paths).get("last_run")
    return next_run_after(float(last_run), config.scheduler.nightly_at) if last_run is not None else None


def gather_status(config: Config, paths: Paths | None = None) -> dict[str, Any]:
    """Everything `voiced status` prints, as plain data (``--json`` prints it as is)."""
    from voiced.daemon.training import read_training_record

    paths = paths or get_paths()
    daemon = _daemon_summary(paths)
    engine = daemon.pop("engine", None) or {}
    voices = {}
    for name in config.voices:
        adapters = _adapter_summary(name, paths)
        active = (adapters.get("active") or {}).get("version")
        voices[name] = {
            "adapters": adapters,
            "corpus": _corpus_summary(name, paths),
            "served": served_summary(engine.get(name), active) if daemon["running"] else None,
            "feedback": _feedback_summary(name, active, paths),
        }
    return {
        "voices": voices,
        "next_training": _next_training(config, paths),
        "min_new_words": config.scheduler.min_new_words,
        "daemon": daemon,
        "training": read_training_record(paths),
    }
