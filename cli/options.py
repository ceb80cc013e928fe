"""Apply CLI flags over the configuration, but only the flags the user gave, within the settings' ranges.

Deciding by `ParameterSource`, never by `is None`, keeps a value from the
config file when a flag has a non-None default. A flag that overrides a
setting takes its type from :func:`setting_type`, so it accepts exactly the
range the config file accepts (declared once, in ``voiced.config``).
"""

from __future__ import annotations

from typing import Any, get_type_hints

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
    """Set each override on a settings dataclass (a new copy), validated as the config file is
    (a ``ConfigError`` naming ``section.key``)."""
    import dataclasses

    return dataclasses.replace(settings, **overrides)


def setting_type(cls: type, name: str) -> click.ParamType:
    """The click type of a flag overriding ``cls.name``: an int or float range with the setting's bounds."""
    from voiced.config import bounds_of

    bounds = bounds_of(cls, name)
    kind = get_type_hints(cls)[name]
    if kind not in (int, float):
        raise TypeError(f"{cls.__name__}.{name} is not numeric")
    if not bounds:
        return click.INT if kind is int else click.FLOAT
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if kind is int:  # integers: an open bound is the next integer in
        return click.IntRange(
            None if low is None else int(low) + ("gt" in bounds), None if high is None else int(high) - ("lt" in bounds)
        )
    return click.FloatRange(low, high, min_open="gt" in bounds, max_open="lt" in bounds)
