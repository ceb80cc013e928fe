"""The base of voiced's expected errors: what happened, and what to do about it."""

from __future__ import annotations


class VoicedError(Exception):
    """An expected failure the user can act on; the CLI, the daemon and the LSP show ``message`` and ``fix``."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n{self.fix}" if self.fix else self.message
