"""The feedback table of the corpus database: its migration, privacy, summaries and preference pairs."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from voiced.corpus import CorpusStore
from voiced.corpus.feedback import (
    FeedbackRecord,
    feedback_records,
    feedback_summary,
    preference_pairs,
    record_feedback,
    word_edit_distance,
)
from voiced.corpus.migrations import MIGRATIONS, migrate
from voiced.paths import get_paths


def rec(pid: str, outcome: str, final: str | None = None, **fields: object) -> FeedbackRecord:
    values: dict[str, object] = {
        "proposal_id": pid,
        "voice": "austen",
        "adapter_version": 2,
        "kind": "rewrite",
        "outcome": outcome,
        "original": "the weather was bad and we stayed home",
        "proposal": "the weather being wretched we kept to the house",
        "final_text": final,
        "proposed_at": 10.0,
        "settled_at": 20.0,
    }
    values.update(fields)
    return FeedbackRecord(**values)  # type: ignore[arg-type]


def test_an_old_corpus_database_gains_the_feedback_table_and_keeps_its_rows() -> None:
    paths = get_paths()
    paths.ensure_private(paths.data_dir)
    old = sqlite3.connect(paths.corpus_db, isolation_level=None)
    migrate(old, MIGRATIONS[:4])
    old.execute(
        "INSERT INTO documents (voice, path, folder, size, mtime_ns, content_hash, status, first_seen, "
        "updated) VALUES ('austen', '/notes/a.md', '/notes', 1, 1, 'x', 'ok', 0, 0)"
    )
    old.close()
    record_feedback(paths, rec("p1", "kept"))
    db = sqlite3.connect(paths.corpus_db)
    assert db.execute("SELECT name FROM migrations ORDER BY rowid").fetchall()[-1] == ("m005_feedback",)
    assert db.execute("SELECT count(*) FROM documents").fetchone() == (1,)
    assert db.execute("SELECT outcome FROM feedback").fetchall() == [("kept",)]


def test_records_are_private_to_the_user() -> None:
    paths = get_paths()
    record_feedback(paths, rec("p1", "accepted"))
    for path in [paths.corpus_db, *paths.data_dir.glob("corpus.sqlite3-*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(paths.data_dir.stat().st_mode) == 0o700


def test_a_later_settlement_replaces_the_earlier_one() -> None:
    paths = get_paths()
    record_feedback(paths, rec("p1", "accepted"))
    record_feedback(paths, rec("p1", "edited", "the weather being foul we kept to the house", settled_at=30.0))
    (stored,) = feedback_records(paths)
    assert (stored.outcome, stored.settled_at, stored.proposed_at) == ("edited", 30.0, 10.0)
    assert stored.final_text == "the weather being foul we kept to the house"


def test_bad_records_are_refused_and_nothing_is_written() -> None:
    paths = get_paths()
    with pytest.raises(ValueError, match="outcome 'liked'"):
        record_feedback(paths, rec("p1", "liked"))
    with pytest.raises(ValueError, match="kind 'poem'"):
        record_feedback(paths, rec("p1", "kept", kind="poem"))
    assert feedback_records(paths) == []


def test_reading_without_a_database_creates_none() -> None:
    paths = get_paths()
    assert feedback_summary(paths) == [] and preference_pairs(paths, "austen") == []
    assert not paths.corpus_db.exists()


def test_summary_per_voice_and_version() -> None:
    paths = get_paths()
    proposal = "the weather being wretched we kept to the house"  # nine words
    for record in [
        rec("a", "kept"),
        rec("b", "edited", proposal.replace("wretched", "foul")),  # one word of nine
        rec("c", "rejected"),
        rec("d", "undone", "the weather was bad and we stayed home"),
        rec("e", "accepted"),
        rec("f", "kept", adapter_version=None),
        rec("g", "rejected", voice="other", adapter_version=1),
    ]:
        record_feedback(paths, record)
    base, v2, other = feedback_summary(paths)
    assert (base.voice, base.adapter_version, base.shown, base.kept, base.acceptance_rate) == (
        "austen",
        None,
        1,
        1,
        1.0,
    )
    assert (v2.shown, v2.accepted, v2.rejected, v2.undone, v2.edited, v2.kept) == (5, 1, 1, 1, 1, 1)
    assert v2.acceptance_rate == pytest.approx(3 / 5) and v2.undo_rate == pytest.approx(1 / 5)
    assert v2.mean_edit_distance == pytest.approx((0 + 1 / 9) / 2)
    assert (other.voice, other.acceptance_rate, other.mean_edit_distance) == ("other", 0.0, None)
    assert [s.voice for s in feedback_summary(paths, "other")] == ["other"]


def test_word_edit_distance() -> None:
    assert word_edit_distance("a b c", "a b c") == 0.0
    assert word_edit_distance("a b c", "a x c") == pytest.approx(1 / 3)
    assert word_edit_distance("a b", "a b c d") == pytest.approx(2 / 4)
    assert word_edit_distance("", "") == 0.0 and word_edit_distance("a", "") == 1.0


def test_preference_pairs_come_from_the_writers_own_text() -> None:
    paths = get_paths()
    own = "we stayed in, for the weather was bad"
    for record in [
        rec("edited", "edited", "the weather being foul we kept to the house"),
        rec("rewrote", "rejected", own),
        rec("undone-then-own", "undone", own + " indeed"),
        rec("rejected-alone", "rejected"),  # the draft left as it was: no pair
        rec("undone-alone", "undone", "the weather was bad and we stayed home"),  # back to the draft
        rec("kept", "kept"),
        rec("emptied", "edited", "  "),
        rec("ghost", "edited", " She laughed,", kind="continue", original=""),
        rec("other-voice", "edited", "x y z", voice="other"),
    ]:
        record_feedback(paths, record)
    pairs = preference_pairs(paths, "austen")
    assert [p.proposal_id for p in pairs] == ["edited", "rewrote", "undone-then-own"]
    first = pairs[0]
    assert first.prompt == "the weather was bad and we stayed home"
    assert first.chosen == "the weather being foul we kept to the house"
    assert first.rejected == "the weather being wretched we kept to the house"
    assert pairs[1].chosen == own and first.adapter_version == 2


def test_feedback_is_never_added_to_the_corpus() -> None:
    paths = get_paths()
    record_feedback(paths, rec("p1", "edited", "the weather being foul we kept to the house"))
    with CorpusStore.open(paths) as store:
        stats = store.stats("austen").voice("austen")
        assert (stats.words, stats.documents) == (0, 0)
        assert list(store.export("austen")) == []
