"""Follow each proposal through the writer's edits and settle what became of it.

Pure logic: the server tells the tracker what it proposed, what the writer
accepted or rejected, and the full text of a document after each change, save
and close; the tracker never reads a file. It follows a proposal's range
through successive texts by their common prefix and suffix (the change lies
between them), and records (via the ``record`` callable):

- ``accepted`` at once when the writer accepts, then at the next save ``kept``
  (the range still holds the proposal) or ``edited`` (``final_text`` = what the
  range holds now), recorded again if that changes before the document is
  closed or left quiet for the quiet interval (an editor that saves on its own
  every few seconds would otherwise settle a rewrite before the writer edits it);
- ``undone`` as soon as the range holds the original again (the editor's undo),
  settled again later, so a redo still ends as ``kept`` and an undo followed by
  the writer's own rewrite keeps that rewrite as ``final_text``;
- ``rejected`` when the writer rejects it, or when it was neither accepted nor
  rejected within the quiet interval; where the server said where the original
  is, the range is followed too, and a rewrite the writer then wrote themselves
  is its ``final_text``.

A record is an upsert by proposal id, so a later settlement replaces an earlier one.
"""

from __future__ import annotations

import logging
import os.path
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from voiced.corpus.feedback import FeedbackRecord

log = logging.getLogger("voiced.lsp.feedback")

# Expired proposals remembered in case the writer accepts one late (a preview left open).
EXPIRED_KEPT = 256


def changed_region(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: ``old[start:old_end]`` became ``new[start:new_end]``, the rest is shared."""
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    suffix = 0
    while suffix < limit - start and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return start, len(old) - suffix, len(new) - suffix


def moved_span(span: tuple[int, int], old: str, new: str) -> tuple[int, int]:
    """Where the range ``span`` of ``old`` lies in ``new``.

    A change wholly before the range shifts it, one wholly after leaves it; text
    typed right at either edge is new writing outside it. A change that
    overlaps the range makes its replacement part of the range.
    """
    a, b = span
    start, old_end, new_end = changed_region(old, new)
    delta = new_end - old_end
    if old_end <= a:
        return a + delta, b + delta
    if start >= b:
        return a, b
    lo, hi = min(a, start), max(b + delta, new_end)
    # One event may carry several changes (either side of the range, untouched): the
    # region then spans the range, which is found again inside it, once.
    kept = old[a:b]
    if kept and new.count(kept, lo, hi) == 1:
        lo = new.index(kept, lo, hi)
        return lo, lo + len(kept)
    return lo, hi


def _landed(there: str, proposal: str) -> int:
    """How many of ``proposal``'s first characters ``there`` (the text where it was put) holds."""
    return len(os.path.commonprefix([there, proposal]))


@dataclass
class _Proposal:
    proposal_id: str
    uri: str
    kind: str
    original: str
    proposal: str
    voice: str
    adapter_version: int | None
    proposed_at: float
    state: str = "pending"  # pending | accepted | rejected | expired
    span: tuple[int, int] | None = None
    undone: bool = False
    last_activity: float = field(default=0.0)
    recorded: tuple[str, str | None] | None = None  # the last (outcome, final_text) recorded
    await_offset: int | None = None  # accepted, but its text not yet in the document: where it will land

    def record(self, outcome: str, final_text: str | None, now: float) -> FeedbackRecord:
        return FeedbackRecord(
            proposal_id=self.proposal_id,
            voice=self.voice,
            adapter_version=self.adapter_version,
            kind=self.kind,
            outcome=outcome,
            original=self.original,
            proposal=self.proposal,
            final_text=final_text,
            proposed_at=self.proposed_at,
            settled_at=now,
        )


class FeedbackTracker:
    """The proposals of one LSP session, followed until each is settled."""

    def __init__(
        self,
        record: Callable[[FeedbackRecord], None],
        quiet_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._record = record
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._lock = threading.RLock()
        self._proposals: dict[str, _Proposal] = {}
        self._expired: dict[str, _Proposal] = {}
        self._texts: dict[str, str] = {}

    # --- what the server tells it --------------------------------------------------

    def proposed(
        self,
        *,
        proposal_id: str,
        uri: str,
        kind: str,
        original: str,
        proposal: str,
        voice: str,
        adapter_version: int | None,
        start_offset: int | None = None,
        document_text: str | None = None,
    ) -> None:
        """A proposal was shown. With ``start_offset`` and ``document_text`` (optional) the tracker also
        follows the original's range, so a rejected rewrite the writer then rewrote themselves gives a pair."""
        now = self._clock()
        with self._lock:
            item = _Proposal(proposal_id, uri, kind, original, proposal, voice, adapter_version, now, last_activity=now)
            if (
                start_offset is not None
                and document_text is not None
                and document_text[start_offset : start_offset + len(original)] == original
            ):
                item.span = (start_offset, start_offset + len(original))
                self._follow(uri, document_text)
            self._proposals[proposal_id] = item

    def rejected(self, proposal_id: str) -> None:
        """The writer rejected the proposal (a preview, a dismissed ghost text)."""
        with self._lock:
            item = self._proposals.get(proposal_id) or self._expired.pop(proposal_id, None)
            if item is None or item.state in ("accepted", "rejected"):
                return
            self._proposals[proposal_id] = item
            item.state = "rejected"
            item.last_activity = self._clock()
            self._emit(item, "rejected", None, item.last_activity)
            if item.span is None:
                del self._proposals[proposal_id]

    def accepted(self, proposal_id: str, *, uri: str, start_offset: int, document_text: str) -> None:
        """The proposal's text now sits in ``document_text`` at ``start_offset``.

        Where only part of it does (a ghost text accepted word by word), the range
        is the part that matches, and the proposal settles as edited. A rewrite's
        ``document_text`` may also be the text just before the edit (the original
        still at ``start_offset``); the tracker then applies the edit itself.
        """
        with self._lock:
            item = self._proposals.get(proposal_id) or self._expired.pop(proposal_id, None)
            if item is None:
                log.debug("feedback: accepted %s, which is not a proposal of this session", proposal_id)
                return
            self._proposals[proposal_id] = item
            there = document_text[start_offset : start_offset + len(item.proposal)]
            if (
                there != item.proposal
                and item.original
                and document_text[start_offset : start_offset + len(item.original)] == item.original
            ):
                # Called before the edit reached the text: the text as it is once it has.
                end = start_offset + len(item.original)
                document_text = document_text[:start_offset] + item.proposal + document_text[end:]
                there = item.proposal
            matched = _landed(there, item.proposal)
            self._follow(uri, document_text)
            item.uri = uri
            item.state = "accepted"
            item.undone = False
            item.last_activity = self._clock()
            if matched == 0 and item.proposal:
                # Told before the insertion reached the text (a ghost text's command can beat its didChange):
                # an empty range would later read as undone, so the range starts once the text shows up.
                item.span = None
                item.await_offset = start_offset
            else:
                item.span = (start_offset, start_offset + matched)
                item.await_offset = None
            self._emit(item, "accepted", None, item.last_activity)

    def forget(self, proposal_id: str) -> None:
        """Drop a proposal without recording anything more (the editor failed to apply it: not the writer's choice)."""
        with self._lock:
            item = self._proposals.pop(proposal_id, None) or self._expired.pop(proposal_id, None)
            if item is not None:
                self._drop_text_if_unused(item.uri)

    def document_changed(self, uri: str, text: str) -> None:
        """The full text of ``uri`` after a change."""
        with self._lock:
            old = self._texts.get(uri)
            if old is None or old == text:
                return
            self._texts[uri] = text
            now = self._clock()
            followed = [p for p in self._proposals.values() if p.uri == uri and p.span is not None]
            for item in [p for p in self._proposals.values() if p.uri == uri and p.await_offset is not None]:
                self._seen(item, old, text, now)
            for item in followed:
                assert item.span is not None
                item.span = moved_span(item.span, old, text)
                now_there = text[item.span[0] : item.span[1]]
                item.last_activity = now  # quiet means no change to the document at all
                if (
                    item.state == "accepted"
                    and not item.undone
                    and now_there == item.original
                    and item.original != item.proposal
                ):
                    item.undone = True
                    self._emit(item, "undone", item.original, now)

    def _follow(self, uri: str, text: str) -> None:
        """``text`` is the document now: move what is followed there to it first, then keep it."""
        if uri in self._texts:
            self.document_changed(uri, text)
        self._texts[uri] = text

    def _seen(self, item: _Proposal, old: str, text: str, now: float) -> None:
        """An accepted insertion awaited at ``item.await_offset``: its range once (part of) it is in ``text``."""
        offset = item.await_offset
        assert offset is not None
        matched = _landed(text[offset : offset + len(item.proposal)], item.proposal)
        if matched:
            item.await_offset = None
            item.span = (offset, offset + matched)
            item.last_activity = now
        else:
            item.await_offset = moved_span((offset, offset), old, text)[0]

    def document_saved(self, uri: str, text: str) -> None:
        """A save settles the proposals of ``uri`` that the writer accepted or rejected (until quiet or close,
        a later change to one is recorded again)."""
        with self._lock:
            self.document_changed(uri, text)
            for item in [p for p in self._proposals.values() if p.uri == uri and p.state != "pending"]:
                self._settle(item, final=False)

    def document_closed(self, uri: str, text: str) -> None:
        """Closing settles every proposal of ``uri``; one never answered counts as rejected."""
        with self._lock:
            self.document_changed(uri, text)
            for item in [p for p in self._proposals.values() if p.uri == uri]:
                if item.state == "pending":
                    item.state = "rejected"
                    self._emit(item, "rejected", None, self._clock())
                self._settle(item, final=True)
            self._texts.pop(uri, None)

    def tick(self) -> None:
        """Settle what was quiet for ``quiet_seconds``: kept or edited, and unanswered proposals as rejected."""
        now = self._clock()
        with self._lock:
            for item in list(self._proposals.values()):
                # Unanswered for quiet_seconds since it was shown; answered and then left alone as long.
                since = item.proposed_at if item.state == "pending" else item.last_activity
                if now - since < self.quiet_seconds:
                    continue
                if item.state == "pending":
                    self._expire(item, now)
                else:
                    self._settle(item, final=True)

    def pending(self) -> list[str]:
        """Ids of the proposals still followed (for the server's logs and tests)."""
        with self._lock:
            return list(self._proposals)

    # --- settling --------------------------------------------------------------------

    def _expire(self, item: _Proposal, now: float) -> None:
        """Neither accepted nor rejected in time: rejected, but remembered a while in case it is accepted late."""
        del self._proposals[item.proposal_id]
        item.state = "expired"
        self._emit(item, "rejected", None, now)
        self._expired[item.proposal_id] = replace(item, span=None)
        while len(self._expired) > EXPIRED_KEPT:
            self._expired.pop(next(iter(self._expired)))
        self._drop_text_if_unused(item.uri)

    def _settle(self, item: _Proposal, *, final: bool) -> None:
        """Record what an accepted or rejected proposal's range holds now; ``final``: stop following it."""
        now = self._clock()
        text = self._texts.get(item.uri)
        there = text[item.span[0] : item.span[1]] if text is not None and item.span is not None else None
        if item.state == "accepted" and there is not None:
            if there == item.proposal:
                self._emit(item, "kept", None, now)
            elif there == item.original or item.undone:
                self._emit(item, "undone", there, now)
            else:
                self._emit(item, "edited", there, now)
        elif item.state == "rejected" and there is not None and there != item.original:
            self._emit(item, "rejected", there, now)
        if final:
            self._proposals.pop(item.proposal_id, None)
            self._drop_text_if_unused(item.uri)

    def _drop_text_if_unused(self, uri: str) -> None:
        if not any(p.uri == uri for p in self._proposals.values()):
            self._texts.pop(uri, None)

    def _emit(self, item: _Proposal, outcome: str, final_text: str | None, now: float) -> None:
        """Record a new outcome (the same one again is skipped), never letting a storage failure break editing."""
        if item.recorded == (outcome, final_text):
            return
        item.recorded = (outcome, final_text)
        record = item.record(outcome, final_text, now)
        try:
            self._record(record)
        except Exception as exc:  # a full disk, a damaged database: logged, the editor goes on
            log.warning("feedback for %s not recorded: %s", record.proposal_id, exc)
