"""`voiced feedback`: what the writer did with the rewrites and continuations their editor showed them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from voiced.corpus.feedback import FeedbackSummary
    from voiced.paths import Paths


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _active_version(voice: str, paths: Paths) -> int | None:
    """The registry's active version of ``voice`` (None: the base model, or no registry to read)."""
    from voiced.registry import Registry, RegistryError

    try:
        versions = Registry.open(voice, paths, recover=False).versions()
    except (RegistryError, OSError):
        return None
    return next((v.number for v in versions if v.is_active), None)


def feedback_rows(summaries: list[FeedbackSummary], active: dict[str, int | None]) -> list[list[str]]:
    rows = [["VOICE", "ADAPTER", "SHOWN", "ACCEPTED", "REJECTED", "UNDONE", "EDITED", "KEPT", "UNDO RATE", "EDITS"]]
    for s in summaries:
        label = f"v{s.adapter_version}" if s.adapter_version is not None else "base"
        if active.get(s.voice, -1) == s.adapter_version:
            label += " (active)"
        rows.append(
            [
                s.voice,
                label,
                str(s.shown),
                f"{s.accepted + s.edited + s.kept} ({_rate(s.acceptance_rate)})",
                str(s.rejected),
                str(s.undone),
                str(s.edited),
                str(s.kept),
                _rate(s.undo_rate),
                "-" if s.mean_edit_distance is None else f"{s.mean_edit_distance:.2f}",
            ]
        )
    return rows


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows)


@click.command()
@click.option("--voice", default=None, help="Only this voice (default: every voice with feedback).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON, for scripts.")
def feedback(voice: str | None, as_json: bool) -> None:
    """What you did with the proposals your editor showed, per voice and adapter version.

    ACCEPTED counts proposals you accepted, kept as they were, or edited afterwards (and their share of
    those SHOWN); UNDONE ones you accepted and then undid; EDITS is the mean word-level edit distance
    (0 to 1) from a kept or edited rewrite to your final text. Preference pairs are the edited, and the
    rejected or undone rewrites you then rewrote yourself."""
    from voiced.config import load_config
    from voiced.corpus.feedback import feedback_summary, preference_pairs
    from voiced.paths import get_paths

    config = load_config(required=False)
    paths = get_paths()
    summaries = feedback_summary(paths, voice)
    if voice is not None and not summaries:
        config.voice(voice)  # an unknown voice is an error naming the configured ones
    voices = sorted({s.voice for s in summaries})
    active = {name: _active_version(name, paths) for name in voices}
    pairs = {name: len(preference_pairs(paths, name)) for name in voices}
    if as_json:
        data: dict[str, Any] = {
            "voices": {
                name: {
                    "active_version": active[name],
                    "preference_pairs": pairs[name],
                    "adapters": [s.to_dict() for s in summaries if s.voice == name],
                }
                for name in voices
            },
            "preference_min_pairs": config.training.preference_min_pairs,
        }
        click.echo(json.dumps(data, indent=2))
        return
    if not summaries:
        where = f" for voice {voice!r}" if voice else ""
        click.echo(f"No feedback yet{where}: it is recorded as you accept, reject, undo or edit rewrites in an editor.")
        return
    lines = [_table(feedback_rows(summaries, active))]
    need = config.training.preference_min_pairs
    for name in voices:
        lines.append(f"{name}: {pairs[name]} preference pairs (the preference stage needs {need})")
    click.echo("\n".join(lines))


def register(main: click.Group) -> None:
    main.add_command(feedback)
