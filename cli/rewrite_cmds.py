"""Generation through the daemon: `voiced rewrite` and `voiced continue`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import partial

import click

from voiced.cli.errors import UserFacingError
from voiced.errors import VoicedError
from voiced.inference.rewrite_guard import describe


def _read_input(source: str) -> str:
    """The text to send, decoded strictly: a rewrite is written back, so a guessed character would stick."""
    where = "on standard input" if source == "-" else f"in {source}"
    try:
        if source == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        raise UserFacingError(f"Cannot read {source}: {exc.strerror or exc}.") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VoicedError(
            f"The text {where} is not valid UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "nothing was sent.",
            fix="Convert it to UTF-8 first, for example `iconv -f WINDOWS-1252 -t UTF-8 FILE | voiced rewrite` "
            "(use the encoding the text was saved in), or re-save it as UTF-8 in your editor.",
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text-mode reading gave


def _stream(method: Callable[..., Iterable[str]], voice: str | None, text: str) -> None:
    from voiced.daemon.client import DaemonError, DaemonUnavailable

    try:
        for piece in method(voice, text):
            click.echo(piece, nl=False)
            sys.stdout.flush()
    except (DaemonUnavailable, DaemonError) as exc:
        click.echo("", err=True)
        raise UserFacingError(str(exc)) from exc
    click.echo("")


def _client():
    from voiced.daemon.client import DaemonClient, DaemonUnavailable

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
        reports: list[dict] = []  # the daemon's rewrite guard: paragraphs it left as they were
        with _client() as client:
            method = getattr(client, client_method)
            _stream(partial(method, on_guard=reports.append) if name == "rewrite" else method, voice, text)
        if message := describe(reports):
            click.echo(f"voiced: {message}", err=True)

    return command


rewrite = _generation_command(
    "rewrite", "stream_rewrite", "Rewrite FILE (or standard input) in your voice, streaming to standard output."
)
continue_ = _generation_command(
    "continue", "stream_continue", "Continue FILE (or standard input) in your voice, streaming to standard output."
)


def register(main: click.Group) -> None:
    main.add_command(rewrite)
    main.add_command(continue_)
