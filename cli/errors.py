"""Turn the library's expected errors into one clear message and exit code 1."""

from __future__ import annotations

import sys
from typing import Any

import click

from voiced.errors import VoicedError


class UserFacingError(VoicedError):
    """A command's own refusal (bad arguments, a wrapped library error) whose message says what to do."""


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (VoicedError,)  # UserFacingError included


class VoicedGroup(click.Group):
    """A click group that prints expected errors without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(1)
