"""Apply CLI flags over the configuration, but only the flags the user gave.

Deciding by `ParameterSource`, never by `is None`, keeps a value from the
config file when a flag has a non-None default.
"""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource


def given_options(ctx: click.Context, names: dict[str, str]) -> dict[str, Any]:
    """Map ``{cli_param: settings_field}`` to the values the user actually passed."""
    out: dict[str, Any] = {}
    for param, field_name in names.items():
        if ctx.get_parameter_source(param) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            out[field_name] = ctx.params[param]
    return out


def apply_overrides(settings: Any, overrides: dict[str, Any]) -> Any:
    """Set each override on a settings dataclass (a new copy)."""
    import dataclasses

    return dataclasses.replace(settings, **overrides)
