"""What `voiced.status` returns and says (pure; no I/O).

The result is the daemon's ``/v1/status`` plus ``adapters``: for each voice,
its adapter versions as the editors need them for a pick list.
"""

from __future__ import annotations

from typing import Any


def version_entries(listing: dict[str, Any]) -> list[dict[str, Any]]:
    """One voice's versions from the daemon's ``/v1/adapters`` listing, oldest first.

    Each entry: ``version``, ``status`` (active, candidate, rejected, failed,
    training), ``active``, ``reason``, ``created``, ``finished``, ``scores``
    (the manifest's, e.g. ``{"test_nll": {"base": 2.5, "candidate": 2.2}}``)
    and ``words`` (the corpus it was trained on).
    """
    entries = []
    for version in listing.get("versions") or []:
        manifest = version.get("manifest") or {}
        entries.append(
            {
                "version": version.get("version"),
                "status": version.get("status"),
                "active": bool(version.get("active")),
                "reason": version.get("reason") or "",
                "created": manifest.get("created"),
                "finished": manifest.get("finished"),
                "scores": manifest.get("scores") or {},
                "words": (manifest.get("corpus") or {}).get("words"),
            }
        )
    return entries


def with_versions(status: dict[str, Any], listings: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """The daemon's status with ``adapters: {voice: [entries]}``; a voice whose listing failed gets []."""
    adapters = {voice: version_entries(listing) if listing else [] for voice, listing in listings.items()}
    return {**status, "adapters": adapters}


def _versions_clause(entries: list[dict[str, Any]]) -> str:
    return ", ".join(f"v{e['version']} {e['status']}" for e in entries)


def status_summary(status: dict[str, Any]) -> str:
    """One clause per voice: its active adapter version (or the base model) and its versions."""
    engine = status.get("engine") or {}
    adapters = status.get("adapters") or {}
    parts = []
    for name in status.get("voices") or []:
        version = (engine.get(name) or {}).get("adapter_version")
        entries = adapters.get(name) or []
        if version:
            part = f"{name}: adapter v{version}"
        elif entries:
            part = f"{name}: base model, no adapter active"
        else:
            part = f"{name}: base model (no adapter trained yet)"
        parts.append(f"{part} (versions: {_versions_clause(entries)})" if entries else part)
    training = status.get("training")
    if training and training.get("state") == "running":
        parts.append(
            f"training {training.get('voice', '')} ({training.get('step', '?')}/{training.get('total_steps', '?')})"
        )
    return "; ".join(parts) or "daemon running, no voices configured"
