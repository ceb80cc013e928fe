"""The feedback tracker: a proposal followed through the writer's edits to its outcome.

The tracker is pure logic driven by full document texts; its records go to a
list here, and in the last test to the real corpus database.
"""

from __future__ import annotations

from voiced.corpus.feedback import FeedbackRecord, feedback_records, record_feedback
from voiced.lsp.feedback_tracker import FeedbackTracker, changed_region, moved_span
from voiced.lsp.proposals import Proposals
from voiced.paths import get_paths

URI = "file:///notes/letter.md"
BEFORE = "Dear Jane,\n\n"
AFTER = "\n\nYours, E."
ORIGINAL = "the weather was bad and we stayed home."
PROPOSAL = "The weather being wretched, we kept to the house."


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tracker_with_log(quiet: float = 60.0) -> tuple[FeedbackTracker, list[FeedbackRecord], Clock]:
    records: list[FeedbackRecord] = []
    clock = Clock()
    return FeedbackTracker(records.append, quiet_seconds=quiet, clock=clock), records, clock


def propose(tracker: FeedbackTracker, pid: str, original: str = ORIGINAL, proposal: str = PROPOSAL, **given) -> None:
    """Tell the tracker of a proposal in URI: a rewrite by voice "v", v1, unless ``given`` says otherwise."""
    fields = {"uri": URI, "kind": "rewrite", "voice": "v", "adapter_version": 1} | given
    tracker.proposed(proposal_id=pid, original=original, proposal=proposal, **fields)


def accepted_rewrite(tracker: FeedbackTracker, pid: str = "p1") -> str:
    """Propose and accept a rewrite of ORIGINAL; returns the document text after the edit."""
    propose(tracker, pid, voice="austen", adapter_version=3)
    text = BEFORE + PROPOSAL + AFTER
    tracker.accepted(pid, uri=URI, start_offset=len(BEFORE), document_text=text)
    return text


def outcomes(records: list[FeedbackRecord]) -> list[tuple[str, str | None]]:
    return [(r.outcome, r.final_text) for r in records]


def test_changed_region_and_spans_follow_edits_around_them() -> None:
    assert changed_region("abcdef", "abXYef") == (2, 4, 4)
    assert changed_region("aaa", "aaaa") == (3, 3, 4)
    text = "0123456789"
    # Typing before the span shifts it; after it, leaves it; inside, grows it.
    assert moved_span((4, 6), text, "xx" + text) == (6, 8)
    assert moved_span((4, 6), text, text + "yy") == (4, 6)
    assert moved_span((4, 6), text, "01234Z56789") == (4, 7)
    # Typing right at either edge is new writing outside the span.
    assert moved_span((4, 6), text, "0123Q456789") == (5, 7)
    assert moved_span((4, 6), text, "012345Q6789") == (4, 6)
    # A change overlapping the span takes its replacement in.
    assert moved_span((4, 6), text, "012X6789") == (3, 4)


def test_kept_at_save_when_the_span_still_holds_the_proposal() -> None:
    tracker, records, _ = tracker_with_log()
    text = accepted_rewrite(tracker)
    # The writer keeps writing elsewhere, before and after the rewrite.
    text = "Dearest " + text[len("Dear ") :] + "\nP.S. Do write."
    tracker.document_changed(URI, text)
    tracker.document_saved(URI, text)
    assert outcomes(records) == [("accepted", None), ("kept", None)]
    assert records[-1].adapter_version == 3 and records[-1].voice == "austen"
    tracker.document_saved(URI, text)  # saved again unchanged: nothing new to record
    assert len(records) == 2


def test_an_edit_after_an_early_save_is_recorded_until_the_quiet_interval() -> None:
    """Editors that save on their own every few seconds settle a rewrite before the writer has read it."""
    tracker, records, clock = tracker_with_log(quiet=60)
    text = accepted_rewrite(tracker)
    tracker.document_saved(URI, text)  # autosave, at once
    assert outcomes(records)[-1] == ("kept", None) and tracker.pending() == ["p1"]
    clock.now += 30
    edited = PROPOSAL.replace("the house", "our house")
    tracker.document_changed(URI, text.replace(PROPOSAL, edited))
    tracker.document_saved(URI, text.replace(PROPOSAL, edited))
    assert outcomes(records)[-1] == ("edited", edited)
    clock.now += 61
    tracker.tick()
    assert tracker.pending() == [] and len(records) == 3
    tracker.document_changed(URI, "later " + text)  # no longer followed
    assert len(records) == 3


def test_edited_at_save_gives_the_writers_final_text() -> None:
    tracker, records, _ = tracker_with_log()
    text = accepted_rewrite(tracker)
    edited = PROPOSAL.replace("wretched", "dreadful")
    text = text.replace(PROPOSAL, edited)
    tracker.document_changed(URI, text)
    tracker.document_changed(URI, "Oh. " + text)
    tracker.document_saved(URI, "Oh. " + text)
    assert outcomes(records) == [("accepted", None), ("edited", edited)]


def test_undo_back_to_the_original_is_undone_at_once() -> None:
    tracker, records, _ = tracker_with_log()
    accepted_rewrite(tracker)
    tracker.document_changed(URI, BEFORE + ORIGINAL + AFTER)
    assert outcomes(records) == [("accepted", None), ("undone", ORIGINAL)]
    tracker.document_saved(URI, BEFORE + ORIGINAL + AFTER)
    assert records[-1].outcome == "undone"


def test_redo_after_undo_ends_as_kept() -> None:
    tracker, records, _ = tracker_with_log()
    text = accepted_rewrite(tracker)
    tracker.document_changed(URI, BEFORE + ORIGINAL + AFTER)
    tracker.document_changed(URI, text)
    tracker.document_saved(URI, text)
    assert [r.outcome for r in records] == ["accepted", "undone", "kept"]


def test_undo_then_the_writers_own_rewrite_keeps_their_text() -> None:
    tracker, records, _ = tracker_with_log()
    accepted_rewrite(tracker)
    tracker.document_changed(URI, BEFORE + ORIGINAL + AFTER)
    own = "the weather was foul, so home we stayed."
    tracker.document_changed(URI, BEFORE + own + AFTER)
    tracker.document_closed(URI, BEFORE + own + AFTER)
    assert outcomes(records)[-1] == ("undone", own)


def test_quiet_interval_settles_accepted_and_expires_unanswered() -> None:
    tracker, records, clock = tracker_with_log(quiet=60)
    text = accepted_rewrite(tracker)
    propose(tracker, "p2", "", " And then it rained.", kind="continue", voice="austen", adapter_version=3)
    clock.now += 30
    tracker.document_changed(URI, text + "!")  # writing anywhere in the document holds it open
    tracker.tick()
    assert [r.outcome for r in records] == ["accepted"]
    clock.now += 31
    tracker.tick()
    assert {r.proposal_id: r.outcome for r in records} == {"p1": "accepted", "p2": "rejected"}  # shown 61 s ago
    clock.now += 30
    tracker.tick()
    assert {r.proposal_id: r.outcome for r in records} == {"p1": "kept", "p2": "rejected"}
    assert tracker.pending() == []


def test_a_late_accept_of_an_expired_proposal_still_counts() -> None:
    tracker, records, clock = tracker_with_log(quiet=10)
    propose(tracker, "p1", adapter_version=None)
    clock.now += 11
    tracker.tick()
    assert outcomes(records) == [("rejected", None)]
    tracker.accepted("p1", uri=URI, start_offset=len(BEFORE), document_text=BEFORE + PROPOSAL + AFTER)
    tracker.document_saved(URI, BEFORE + PROPOSAL + AFTER)
    assert [r.outcome for r in records] == ["rejected", "accepted", "kept"]


def test_rejected_rewrite_that_the_writer_then_rewrote_gives_their_text() -> None:
    tracker, records, _ = tracker_with_log()
    text = BEFORE + ORIGINAL + AFTER
    propose(tracker, "p1", start_offset=len(BEFORE), document_text=text)
    tracker.document_changed(URI, "Hi. " + text)  # typing while the preview is open moves the range
    tracker.rejected("p1")
    assert outcomes(records) == [("rejected", None)]
    own = "we stayed in, for the weather was bad."
    tracker.document_saved(URI, "Hi. " + BEFORE + own + AFTER)
    assert outcomes(records) == [("rejected", None), ("rejected", own)]


def test_rejected_and_left_alone_records_once() -> None:
    tracker, records, _ = tracker_with_log()
    text = BEFORE + ORIGINAL + AFTER
    propose(tracker, "p1", start_offset=len(BEFORE), document_text=text)
    tracker.rejected("p1")
    tracker.document_saved(URI, text)
    assert outcomes(records) == [("rejected", None)]


def test_accept_reported_before_the_edit_reached_the_text() -> None:
    tracker, records, _ = tracker_with_log()
    propose(tracker, "p1", adapter_version=2)
    tracker.accepted("p1", uri=URI, start_offset=len(BEFORE), document_text=BEFORE + ORIGINAL + AFTER)
    tracker.document_changed(URI, BEFORE + PROPOSAL + AFTER)
    tracker.document_saved(URI, BEFORE + PROPOSAL + AFTER)
    assert [r.outcome for r in records] == ["accepted", "kept"]


def test_ghost_text_accepted_in_part_and_continuation_undone() -> None:
    tracker, records, _ = tracker_with_log()
    ghost = " She laughed, and went out."
    for pid in ("g1", "g2"):
        propose(tracker, pid, "", ghost, kind="continue", adapter_version=2)
    partial = BEFORE + " She laughed," + AFTER
    tracker.accepted("g1", uri=URI, start_offset=len(BEFORE), document_text=partial)
    tracker.document_saved(URI, partial)
    assert outcomes(records) == [("accepted", None), ("edited", " She laughed,")]
    full = BEFORE + ghost + AFTER
    tracker.accepted("g2", uri=URI, start_offset=len(BEFORE), document_text=full)
    tracker.document_changed(URI, BEFORE + AFTER)
    assert outcomes(records)[-1] == ("undone", "")


def test_close_settles_everything_of_the_document_only() -> None:
    tracker, records, _ = tracker_with_log()
    accepted_rewrite(tracker)
    propose(tracker, "other", "a", "b", uri="file:///b.md")
    propose(tracker, "never", "a", "b")
    tracker.document_closed(URI, BEFORE + PROPOSAL + AFTER)
    assert {r.proposal_id: r.outcome for r in records} == {"p1": "kept", "never": "rejected"}
    assert tracker.pending() == ["other"]


def test_a_failing_store_does_not_break_editing() -> None:
    def broken(record: FeedbackRecord) -> None:
        raise OSError("disk full")

    tracker = FeedbackTracker(broken, quiet_seconds=5)
    accepted_rewrite(tracker)
    tracker.document_saved(URI, BEFORE + PROPOSAL + AFTER)
    tracker.document_closed(URI, BEFORE + PROPOSAL + AFTER)
    assert tracker.pending() == []


def test_records_reach_the_corpus_database() -> None:
    paths = get_paths()
    tracker = FeedbackTracker(lambda record: record_feedback(paths, record), quiet_seconds=60)
    text = accepted_rewrite(tracker)
    assert [r.outcome for r in feedback_records(paths)] == ["accepted"]
    tracker.document_saved(URI, text.replace("wretched", "vile"))
    (stored,) = feedback_records(paths)
    assert (stored.outcome, stored.final_text) == ("edited", PROPOSAL.replace("wretched", "vile"))
    assert (stored.original, stored.proposal, stored.adapter_version) == (ORIGINAL, PROPOSAL, 3)
    assert stored.settled_at >= stored.proposed_at


def test_an_unanswered_proposal_expires_even_while_its_range_moves() -> None:
    tracker, records, clock = tracker_with_log(quiet=10)
    text = BEFORE + ORIGINAL + AFTER
    propose(tracker, "p1", start_offset=len(BEFORE), document_text=text)
    for step in range(1, 4):
        clock.now += 4
        tracker.document_changed(URI, "x" * step + text)  # typing before it while the preview waits
        tracker.tick()
    assert outcomes(records) == [("rejected", None)]


def test_an_accept_elsewhere_moves_the_other_proposals_ranges() -> None:
    """An edit told through accepted() (or proposed()) moves what else is followed in the document."""
    tracker, records, _ = tracker_with_log()
    text = accepted_rewrite(tracker, "p1")  # p1's rewrite sits after BEFORE
    other_original, other = "Dear Jane,", "My dearest Jane,"
    propose(tracker, "p2", other_original, other, adapter_version=3)
    # p2's edit lands before p1's range; the tracker hears of it first from accepted() with the new text.
    after = other + text[len(other_original) :]
    tracker.accepted("p2", uri=URI, start_offset=0, document_text=after)
    tracker.document_changed(URI, after)  # the editor's didChange with the same text
    tracker.document_saved(URI, after)
    assert {r.proposal_id: r.outcome for r in records} == {"p1": "kept", "p2": "kept"}
    # A new proposal's text (typed before p1) moves p1 too.
    typed = "Hi. " + after
    propose(tracker, "p3", "Hi.", "Hello.", adapter_version=3, start_offset=0, document_text=typed)
    tracker.document_saved(URI, typed)
    assert [(r.proposal_id, r.outcome) for r in records if r.proposal_id == "p1"][-1] == ("p1", "kept")


def test_a_ghost_text_accepted_before_its_insertion_arrives_waits_for_it() -> None:
    tracker, records, clock = tracker_with_log(quiet=10)
    ghost = " She laughed, and went out."
    text = BEFORE + AFTER
    propose(tracker, "g1", "", ghost, kind="continue", adapter_version=2)
    tracker.accepted("g1", uri=URI, start_offset=len(BEFORE), document_text=text)  # before the didChange
    tracker.document_changed(URI, "P. " + text)  # typing elsewhere first moves where it lands
    full = "P. " + BEFORE + ghost + AFTER
    tracker.document_changed(URI, full)
    assert outcomes(records) == [("accepted", None)]  # not undone: the range is the ghost text now
    tracker.document_saved(URI, full)
    assert outcomes(records) == [("accepted", None), ("kept", None)]


def test_forget_drops_a_proposal_without_a_record() -> None:
    tracker, records, clock = tracker_with_log(quiet=10)
    propose(tracker, "p1")
    tracker.forget("p1")
    clock.now += 11
    tracker.tick()
    tracker.document_closed(URI, BEFORE + ORIGINAL + AFTER)
    assert records == [] and tracker.pending() == []


def _proposals_with_log(quiet: float) -> tuple[Proposals, list[FeedbackRecord], Clock]:
    """The server's Proposals, with its tracker recording to a list instead of the database."""
    records: list[FeedbackRecord] = []
    clock = Clock()
    proposals = Proposals(quiet, clock=clock)
    proposals.tracker = FeedbackTracker(records.append, quiet_seconds=quiet, clock=clock)
    return proposals, records, clock


def test_an_edit_the_client_applies_late_still_counts_after_the_quiet_interval() -> None:
    """VS Code's refactor preview may stay open for minutes: its accept arrives as a didChange."""
    proposals, records, clock = _proposals_with_log(quiet=10)
    text = BEFORE + ORIGINAL + AFTER
    proposals.proposed(
        "p1",
        uri=URI,
        kind="rewrite",
        original=ORIGINAL,
        proposal=PROPOSAL,
        voice="v",
        adapter_version=1,
        start_offset=len(BEFORE),
        document_text=text,
    )
    proposals.accept_when_seen("p1", uri=URI, offset=len(BEFORE), text=PROPOSAL, document_text=text)
    clock.now += 30
    proposals.tick()
    assert outcomes(records) == [("rejected", None)]  # unanswered for now
    proposals.changed(URI, BEFORE + PROPOSAL + AFTER)  # the writer applies the preview at last
    proposals.saved(URI, BEFORE + PROPOSAL + AFTER)
    assert [r.outcome for r in records] == ["rejected", "accepted", "kept"]


def test_a_change_moves_other_ranges_before_an_awaited_edit_is_accepted() -> None:
    proposals, records, _ = _proposals_with_log(quiet=60)
    text = accepted_rewrite(proposals.tracker, "p1")
    proposals.changed(URI, text)
    other_original, other = "Dear Jane,", "My dearest Jane,"
    proposals.proposed(
        "p2", uri=URI, kind="rewrite", original=other_original, proposal=other, voice="v", adapter_version=3
    )
    proposals.accept_when_seen("p2", uri=URI, offset=0, text=other, document_text=text)
    after = other + text[len(other_original) :]
    proposals.changed(URI, after)
    proposals.saved(URI, after)
    assert {r.proposal_id: r.outcome for r in records} == {"p1": "kept", "p2": "kept"}
