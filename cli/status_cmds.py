"""`voiced status`: adapters, corpus, schedule, daemon and training at a glance (or as JSON)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import click


def _when(value: Any) -> str:
    if value in (None, ""):
        return "-"
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else datetime.fromtimestamp(float(value))
    except (TypeError, ValueError):
        return str(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _scores(nll: dict) -> str:
    if "candidate" in nll and "base" in nll:
        return f"nll {nll['candidate']:.3f} vs base {nll['base']:.3f}"
    return "-"


def _served(served: dict | None) -> str:
    """The daemon's side of the ACTIVE column: what it serves, "!" when that is not the registry's version."""
    if served is None:
        return "-"
    if not served["loaded"]:
        return "not loaded"
    label = f"v{served['version']}" if served["version"] is not None else "base"
    return label + (" !" if served["differs"] else "")


def served_note(name: str, voice: dict) -> str | None:
    """A line explaining a SERVED that differs from ACTIVE."""
    served = voice.get("served")
    if not served or not served.get("differs"):
        return None
    active = voice["adapters"].get("active")
    registry = f"v{active['version']}" if active else "base"
    serving = f"v{served['version']}" if served["version"] is not None else "the base model"
    why = served.get("notice") or (
        "the registry changed; the daemon switches at its next request"
        if served.get("pending")
        else "run `voiced daemon restart`"
    )
    return f"  {name}: the daemon serves {serving}, the registry says {registry}: {why}"


def voice_rows(data: dict) -> list[list[str]]:
    rows = [["VOICE", "ACTIVE", "SERVED", "TRAINED", "ON WORDS", "SCORE", "CANDIDATES", "REJECTED", "CORPUS", "NEW"]]
    for name, voice in data["voices"].items():
        adapters, corpus = voice["adapters"], voice["corpus"]
        active = adapters.get("active")
        rows.append(
            [
                name,
                f"v{active['version']}" if active else "base",
                _served(voice.get("served")),
                _when(active["trained"]) if active else "-",
                f"{active['words']:,}" if active and active.get("words") is not None else "-",
                _scores(active["test_nll"]) if active else "-",
                str(adapters.get("candidates", 0)),
                str(adapters.get("rejected", 0)),
                f"{corpus['words']:,}" if not corpus.get("error") else "?",
                f"{corpus['new_words']:,}",
            ]
        )
    return rows


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows)


def _mb(value: int | None) -> str:
    return f"{value / 1e6:.0f} MB" if value else "?"


def format_status(data: dict) -> str:
    lines = [_table(voice_rows(data))]
    for name, voice in data["voices"].items():
        note = served_note(name, voice)
        if note:
            lines.append(note)
        feedback = voice.get("feedback") or {}
        if feedback.get("shown"):
            adapter = f"v{feedback['version']}" if feedback["version"] is not None else "the base model"
            lines.append(
                f"  {name}: you accepted {feedback['accepted']} of {feedback['shown']} proposals of {adapter} "
                f"({feedback['acceptance_rate']:.0%}; undone {feedback['undo_rate']:.0%}; `voiced feedback`)"
            )
        reason = voice["adapters"].get("latest_rejected_reason")
        if reason:
            lines.append(f"  {name}: last rejected: {reason}")
        if voice["corpus"].get("error"):
            lines.append(f"  {name}: corpus: " + voice["corpus"]["error"].replace("\n", "\n    "))
    lines.append(
        f"Next training: {_when(data['next_training'])} (voices with at least {data['min_new_words']:,} new words)"
    )
    daemon = data["daemon"]
    if daemon["running"]:
        loaded = ", ".join(daemon["models_loaded"]) or "none"
        lines.append(
            f"Daemon: running, pid {daemon['pid']}, port {daemon['port']}, models loaded: {loaded}, "
            f"memory {_mb(daemon['rss_bytes'])}"
        )
    else:
        lines.append("Daemon: not running (start it with `voiced daemon start`)")
    training = data["training"]
    if training and training.get("state") == "running":
        total = training.get("total_steps") or "?"
        loss = f", loss {training['loss']:.3f}" if training.get("loss") is not None else ""
        eta = f", {training['eta']:.0f} s left" if training.get("eta") is not None else ""
        lines.append(
            f"Training {training['voice']}: {training.get('stage')}, "
            f"step {training.get('step') or 0}/{total}{loss}{eta}"
        )
    elif training and training.get("finished"):
        outcome = f" ({training['outcome']})" if training.get("outcome") else ""
        lines.append(
            f"Last training {training['voice']}: {training['state']}{outcome} at "
            f"{_when(training['finished'])}: {training.get('reason') or ''}".rstrip(": ")
        )
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON, for scripts.")
def status(as_json: bool) -> None:
    """Adapters, corpus, next training, daemon and training in progress, per voice.

    ACTIVE is the registry's active version, SERVED what the running daemon serves ("!" and a line
    below when they differ). A line per voice says how often you accepted the active adapter's
    proposals in your editor (details: `voiced feedback`)."""
    from voiced.cli.status_report import gather_status
    from voiced.config import load_config

    data = gather_status(load_config())
    data["generated_at"] = time.time()
    click.echo(json.dumps(data, indent=2) if as_json else format_status(data))


def register(main: click.Group) -> None:
    main.add_command(status)
