"""The adapter registry: `voiced adapters list|show|activate|rollback|remove|export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voiced.cli.errors import UserFacingError
from voiced.cli.registry_sync import show_warnings, tell_daemon, through_daemon
from voiced.config import load_config
from voiced.manifest import Manifest

if TYPE_CHECKING:
    from voiced.registry import Registry, Version


def _registry(voice: str | None) -> Registry:
    """The voice's registry, opened with recovery (a damaged pointer is rebuilt, and the CLI says so)."""
    from voiced.registry import Registry

    name = load_config().voice(voice).name
    registry = _guard(Registry.open, name)
    show_warnings(registry.pointer_notes())
    return registry


def _runtime_checked(registry: Registry, version: Version) -> str | None:
    """Validate ``version`` for the runtime that will serve the voice (rebuilding a damaged GGUF LoRA
    from its intact PEFT source); returns the runtime."""
    from voiced.trainer.serving import serving_runtime, usable_for

    base_model = load_config().voice(registry.voice).base_model
    runtime = serving_runtime(base_model)
    if runtime is not None:
        show_warnings(_guard(usable_for, version, runtime, base_model))
    return runtime


def _guard(call, *args, **kwargs):
    """Registry errors are expected: show them without a traceback."""
    from voiced.registry import RegistryError

    try:
        return call(*args, **kwargs)
    except RegistryError as exc:
        raise UserFacingError(str(exc)) from exc


def _score(manifest: Manifest) -> str:
    nll = manifest.scores.test_nll
    if "candidate" not in nll:
        return "-"
    parts = [f"{nll['candidate']:.3f}"]
    if "base" in nll:
        parts.append(f"base {nll['base']:.3f}")
    if "active" in nll:
        parts.append(f"was {nll['active']:.3f}")
    return " / ".join(parts)


def _voice_option(function):
    return click.option("--voice", help="Voice (default: the first configured voice).")(function)


@click.group()
def adapters() -> None:
    """Trained adapter versions per voice: list, inspect, activate, roll back, remove, export."""


@adapters.command("list")
@_voice_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(voice: str | None, as_json: bool) -> None:
    """Versions with status, creation time, corpus words and test NLL (lower is better)."""
    registry = _registry(voice)
    versions = registry.versions()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "version": v.number,
                        "status": v.status,
                        "verdict": v.verdict,
                        "reason": v.reason,
                        "created": v.manifest.created,
                        "words": v.manifest.corpus.words,
                        "scores": dict(v.manifest.scores.test_nll) or None,
                    }
                    for v in versions
                ],
                indent=2,
            )
        )
        return
    if not versions:
        click.echo(f"Voice {registry.voice!r} has no adapters yet. Train one with `voiced train`.")
        return
    click.echo(f"{'version':>7}  {'status':<9}  {'created':<19}  {'words':>8}  test NLL (candidate / base / was)")
    for v in versions:
        words = v.manifest.corpus.words
        created = (v.manifest.created or "")[:19].replace("T", " ")
        click.echo(
            f"{'v' + str(v.number):>7}  {v.status:<9}  {created:<19}  {words if words is not None else '-':>8}  "
            f"{_score(v.manifest)}"
        )
        if v.reason and v.verdict in ("rejected", "failed"):
            kept = " (made active by hand; the gate's verdict stands)" if v.is_active else ""
            click.echo(f"{'':>7}  {v.verdict}: {v.reason}{kept}")


def _show_lines(manifest: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in manifest.items():
        if key == "losses" and isinstance(value, dict):
            for split, points in value.items():
                if points:
                    last = points[-1]
                    lines.append(f"{prefix}losses.{split}: {len(points)} points, last {last}")
        elif isinstance(value, dict):
            lines.append(f"{prefix}{key}:")
            lines.extend(_show_lines(value, prefix + "  "))
        else:
            lines.append(f"{prefix}{key}: {value}")
    return lines


@adapters.command()
@click.argument("version", type=int)
@_voice_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show(version: int, voice: str | None, as_json: bool) -> None:
    """Print VERSION's manifest: base model, corpus, examples, settings, losses, scores, status."""
    registry = _registry(voice)
    found = _guard(registry.get, version)
    if as_json:
        click.echo(json.dumps({**found.manifest.to_dict(), "status": found.status}, indent=2))
        return
    click.secho(f"v{found.number} ({found.status}) of voice {registry.voice!r}: {found.path}", bold=True)
    shown = {k: v for k, v in found.manifest.to_dict().items() if k not in ("status", "version", "voice")}
    for line in _show_lines(shown):
        click.echo(line)
    show_warnings([f"manifest.json: {name} {problem}" for name, problem in found.manifest.problems.items()])


@adapters.command()
@click.argument("version", type=int)
@_voice_option
def activate(version: int, voice: str | None) -> None:
    """Make VERSION the adapter the daemon uses (a running daemon switches to it at once)."""
    registry = _registry(voice)
    if through_daemon(lambda client: client.activate(registry.voice, version)) is None:
        runtime = _runtime_checked(registry, _guard(registry.get, version))
        _guard(registry.activate, version, runtime=runtime)
    click.echo(f"v{version} is now the active adapter of voice {registry.voice!r}.")


@adapters.command()
@_voice_option
def rollback(voice: str | None) -> None:
    """Go back to the previously active adapter (a running daemon switches to it at once)."""
    registry = _registry(voice)
    answer = through_daemon(lambda client: client.rollback(registry.voice))
    if answer is not None:
        previous = answer.get("active")
    else:
        target = _guard(registry.rollback_target)
        runtime = _runtime_checked(registry, registry.get(target)) if target is not None else None
        previous = _guard(registry.rollback, runtime=runtime)
    target = f"v{previous}" if previous is not None else "the base model alone (no adapter)"
    click.echo(f"Voice {registry.voice!r} now uses {target}.")


@adapters.command()
@click.argument("version", type=int)
@_voice_option
@click.option("--force", is_flag=True, help="Also remove the active adapter (the previous one becomes active).")
def remove(version: int, voice: str | None, force: bool) -> None:
    """Delete VERSION (the active one only with --force)."""
    registry = _registry(voice)
    was_active = registry.active_version() == version
    _guard(registry.remove, version, force=force)
    active = registry.active_version()
    click.echo(f"Removed v{version}. Active adapter: {f'v{active}' if active is not None else 'none (base model)'}.")
    if was_active:
        tell_daemon(registry.voice)


@adapters.command()
@click.argument("version", type=int)
@_voice_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (created if missing).",
)
@click.option(
    "--merged/--no-merged",
    default=True,
    show_default=True,
    help="Also write the base model with the adapter merged in.",
)
def export(version: int, voice: str | None, out_dir: Path, merged: bool) -> None:
    """Write VERSION as a GGUF LoRA with an Ollama Modelfile (ADAPTER), plus a merged model."""
    from voiced.trainer.adapter_export import ExportError, export_version

    registry = _registry(voice)
    try:
        written = _guard(export_version, registry, version, out_dir, load_config().voice(voice), merged=merged)
    except ExportError as exc:
        raise UserFacingError(str(exc)) from exc
    for label, path in written.items():
        click.echo(f"{label}: {path}")


def register(main: click.Group) -> None:
    main.add_command(adapters)
