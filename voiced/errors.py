"""The base of voiced's expected errors: what happened, and what to do about it.

Every error a user can meet derives from :class:`VoicedError`, so the CLI, the
daemon and the LSP catch one type and show one shape. The daemon gives each
subclass its HTTP status by type (``voiced.daemon.error_status``), never by
reading the message.
"""

from __future__ import annotations

from typing import ClassVar


class VoicedError(Exception):
    """An expected failure the user can act on; the CLI, the daemon and the LSP show ``message`` and ``fix``.

    ``fix`` says what to do. A raise that gives none gets the class's
    ``default_fix`` (empty unless a subclass sets one). Many messages already
    end in their fix ("...; run `voiced dataset build` first"): those leave
    ``fix`` empty rather than say it twice.
    """

    default_fix: ClassVar[str] = ""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix or self.default_fix

    def __str__(self) -> str:
        return f"{self.message}\n{self.fix}" if self.fix else self.message
