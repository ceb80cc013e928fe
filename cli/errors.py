"""Turn the library's expected errors into one clear message and exit code 1."""

from __future__ import annotations

import sys

import click

from voiced.errors import VoicedError


class UserFacingError(Exception):
    """An error whose message already tells the user what to do."""


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (VoicedError, UserFacingError)


class VoicedGroup(click.Group):
    """A click group that prints expected errors without a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(1)
