"""The server's side of learning from what the writer keeps: proposals handed to the feedback tracker.

The tracker (`voiced.lsp.feedback_tracker`) decides what became of a proposal;
this module tells it what the server saw (proposed, accepted, rejected, each
change, save and close of a document) and writes its records into the corpus
database on one background thread, so the event loop never waits on SQLite.

An edit the client applies itself (a resolved code action, VS Code's refactor
preview) is known to be accepted only when its text shows up in the document:
``accept_when_seen`` waits for that in the document's changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from voiced.paths import get_paths

log = logging.getLogger("voiced.lsp")

try:  # the feedback store and tracker arrived with issue #14; the server works without them
    from voiced.corpus.feedback import record_feedback
    from voiced.lsp.feedback_tracker import FeedbackTracker
except ImportError:  # pragma: no cover - only in a checkout that lacks them
    FeedbackTracker = None  # type: ignore[assignment,misc]


# How many quiet intervals an edit the client applies itself is awaited in the document.
AWAIT_QUIET_TIMES = 10


@dataclass(frozen=True)
class Awaiting:
    """An accepted-by-the-client edit not yet seen in the document."""

    uri: str
    offset: int
    text: str
    since: float


class Proposals:
    """Feedback for one server: the tracker (or nothing, without one) and the edits awaited in the documents."""

    def __init__(self, quiet_seconds: float, *, clock: Callable[[], float] = time.time) -> None:
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._awaiting: dict[str, Awaiting] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voiced-feedback")
        self.tracker: Any = None
        if FeedbackTracker is not None:
            self.tracker = FeedbackTracker(self._record, quiet_seconds, clock=clock)
        else:
            log.warning("no feedback tracker in this build: what the writer keeps is not recorded")

    # --- what the server saw ----------------------------------------------------------

    def proposed(
        self,
        proposal_id: str,
        *,
        uri: str,
        kind: str,
        original: str,
        proposal: str,
        voice: str,
        adapter_version: int | None,
        start_offset: int | None = None,
        document_text: str | None = None,
    ) -> None:
        """A proposal shown to the writer; with where its original sits, the tracker follows that range too."""
        where = {} if start_offset is None else {"start_offset": start_offset, "document_text": document_text}
        self._call(
            "proposed",
            proposal_id=proposal_id,
            uri=uri,
            kind=kind,
            original=original,
            proposal=proposal,
            voice=voice,
            adapter_version=adapter_version,
            **where,
        )

    def rejected(self, proposal_id: str) -> None:
        self._awaiting.pop(proposal_id, None)
        self._call("rejected", proposal_id)

    def accepted(self, proposal_id: str, *, uri: str, offset: int, document_text: str) -> None:
        self._awaiting.pop(proposal_id, None)
        self._call("accepted", proposal_id, uri=uri, start_offset=offset, document_text=document_text)

    def accept_when_seen(self, proposal_id: str, *, uri: str, offset: int, text: str, document_text: str) -> None:
        """Accepted as soon as ``text`` sits at ``offset`` of the document: now, or at a later change."""
        if document_text[offset : offset + len(text)] == text:
            self.accepted(proposal_id, uri=uri, offset=offset, document_text=document_text)
        else:
            self._awaiting[proposal_id] = Awaiting(uri, offset, text, self._clock())

    def forget(self, proposal_id: str) -> None:
        """Drop a proposal without recording it (the editor could not apply it: not the writer's choice)."""
        self._awaiting.pop(proposal_id, None)
        self._call("forget", proposal_id)

    def changed(self, uri: str, text: str) -> None:
        # The change first moves what is followed; an awaited edit that shows up in it is accepted after.
        self._call("document_changed", uri, text)
        for proposal_id, waiting in list(self._awaiting.items()):
            if waiting.uri == uri and text[waiting.offset : waiting.offset + len(waiting.text)] == waiting.text:
                self.accepted(proposal_id, uri=uri, offset=waiting.offset, document_text=text)

    def saved(self, uri: str, text: str) -> None:
        self._call("document_saved", uri, text)

    def closed(self, uri: str, text: str) -> None:
        for proposal_id, waiting in list(self._awaiting.items()):
            if waiting.uri == uri:
                del self._awaiting[proposal_id]
        self._call("document_closed", uri, text)

    def tick(self) -> None:
        """Settle what was quiet long enough; forget edits that never showed up (the tracker rejects them).

        An awaited edit is kept until its document closes or ``AWAIT_QUIET_TIMES`` quiet intervals pass:
        VS Code's refactor preview may stay open long after the tracker expired the proposal, and an
        accept from it then still counts.
        """
        now = self._clock()
        for proposal_id, waiting in list(self._awaiting.items()):
            if now - waiting.since > AWAIT_QUIET_TIMES * self.quiet_seconds:
                del self._awaiting[proposal_id]
        self._call("tick")

    @property
    def tick_interval(self) -> float:
        return max(0.2, min(5.0, self.quiet_seconds / 4))

    # --- plumbing ---------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.tracker is None:
            return
        try:
            getattr(self.tracker, method)(*args, **kwargs)
        except Exception:  # feedback must never break an editor's session
            log.exception("feedback tracker: %s failed", method)

    def _record(self, record: Any) -> None:
        self._writer.submit(self._write, record)

    def _write(self, record: Any) -> None:
        try:
            record_feedback(get_paths(), record)
        except Exception:
            log.exception("could not record feedback for %s", getattr(record, "proposal_id", "?"))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait for the records submitted so far (tests, shutdown)."""
        self._writer.submit(lambda: None).result(timeout=timeout)
