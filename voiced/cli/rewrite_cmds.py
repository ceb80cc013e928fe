"""Generation through the daemon: `voiced rewrite` and `voiced continue`."""

from __future__ import annotations

import sys
from typing import Callable

import click

from voiced.cli.errors import UserFacingError


def _read_input(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserFacingError(f"Cannot read {source}: {exc}.") from exc


def _stream(method: Callable[..., object], voice: str | None, text: str) -> None:
    from voiced.client import DaemonError, DaemonUnavailable

    try:
        for piece in method(voice, text):
            click.echo(piece, nl=False)
            sys.stdout.flush()
    except (DaemonUnavailable, DaemonError) as exc:
        click.echo("", err=True)
        raise UserFacingError(str(exc)) from exc
    click.echo("")


def _client():
    from voiced.client import DaemonClient, DaemonUnavailable

    try:
        return DaemonClient.connect(start_if_needed=True)
    except DaemonUnavailable as exc:
        raise UserFacingError(str(exc)) from exc


def _generation_command(name: str, client_method: str, help_text: str) -> click.Command:
    """`voiced rewrite` and `voiced continue` differ only in the client method they stream from."""

    @click.command(name=name, help=help_text)
    @click.option("--voice", help="Voice to write in (default: the first configured voice).")
    @click.argument("source", default="-", metavar="[FILE|-]")
    def command(voice: str | None, source: str) -> None:
        text = _read_input(source)
        with _client() as client:
            _stream(getattr(client, client_method), voice, text)

    return command


rewrite = _generation_command(
    "rewrite", "stream_rewrite", "Rewrite FILE (or standard input) in your voice, streaming to standard output.")
continue_ = _generation_command(
    "continue", "stream_continue", "Continue FILE (or standard input) in your voice, streaming to standard output.")


def register(main: click.Group) -> None:
    main.add_command(rewrite)
    main.add_command(continue_)
