"""The CLI's side of "one truth for the active adapter": change the registry, and tell a running daemon.

With a daemon running, activate and rollback go through it, so the engine
switches first and the pointer is set back when it cannot (the daemon's
manage API does both). Without one, the CLI validates the version for the
runtime that will serve it and writes the registry; a daemon started later
reads it. Other changes (a removal, a promotion by `voiced train`) are
written directly and then announced, so the daemon serves them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from voiced.cli.errors import UserFacingError

if TYPE_CHECKING:
    from voiced.daemon.client import DaemonClient
    from voiced.daemon.schemas import VoiceEngineStatus


@contextmanager
def running_daemon() -> Iterator[DaemonClient | None]:
    """A client for the daemon when one is running (never starts one); None otherwise."""
    from voiced.daemon.client import DaemonClient, DaemonUnavailable

    try:
        client = DaemonClient.connect(start_if_needed=False)
    except DaemonUnavailable:
        yield None
        return
    try:
        yield client
    finally:
        client.close()


def through_daemon(call: Callable[[DaemonClient], dict]) -> dict | None:
    """``call(client)`` on a running daemon; None when none runs (or it went away before acting)."""
    from voiced.daemon.client import DaemonError, DaemonUnavailable

    with running_daemon() as client:
        if client is None:
            return None
        try:
            return call(client)
        except DaemonUnavailable:
            return None  # it stopped: the registry alone decides, and the next daemon reads it
        except DaemonError as exc:
            raise UserFacingError(str(exc)) from exc


def tell_daemon(voice: str) -> None:
    """After a direct registry change: ask a running daemon to serve the active version now, and say so."""
    from voiced.daemon.client import DaemonError, DaemonUnavailable

    with running_daemon() as client:
        if client is None:
            return
        try:
            # DaemonClient has no method for this route yet (client.py is another engineer's file)
            answer = client._request("POST", f"/v1/adapters/{voice}/reload", "status")
        except DaemonUnavailable:
            return
        except DaemonError as exc:
            click.secho(f"Warning: the running daemon could not switch: {exc}", fg="yellow", err=True)
            return
    served = _served(answer)
    if served is None:
        return
    if served.notice:
        click.secho(f"Warning: {served.notice}", fg="yellow", err=True)
    elif served.loaded:
        version = served.adapter_version
        click.echo(
            f"The running daemon now serves {f'v{version}' if version is not None else 'the base model'}.", err=True
        )


def _served(answer: dict) -> VoiceEngineStatus | None:
    """What the daemon serves now, as its /v1/status describes a voice; None when it did not say (it runs no
    model) or said it in another shape (a daemon of another voiced version: the change is made either way)."""
    from pydantic import ValidationError

    from voiced.daemon.schemas import VoiceEngineStatus

    try:
        return VoiceEngineStatus.model_validate(answer["served"])
    except (KeyError, TypeError, ValidationError):
        return None


def show_warnings(notes: list[str]) -> None:
    for note in notes:
        click.secho(f"Warning: {note}", fg="yellow", err=True)
