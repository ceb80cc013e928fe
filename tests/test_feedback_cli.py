"""`voiced feedback` and the acceptance line of `voiced status`, through the real CLI over a real database."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from job_support import fake_adapter, make_voice
from process_support import run_voiced

from voiced.corpus.feedback import FeedbackRecord, record_feedback
from voiced.paths import get_paths
from voiced.registry import Registry


def record(pid: str, outcome: str, version: int | None, final: str | None = None, voice: str = "austen") -> None:
    record_feedback(
        get_paths(),
        FeedbackRecord(
            pid,
            voice,
            version,
            "rewrite",
            outcome,
            "it rained so we stayed in",
            "the rain kept us within doors",
            final,
            100.0,
            200.0,
        ),
    )


def history() -> None:
    """v1: kept, kept, rejected, undone; the base model: one rejected; an edit gives a preference pair."""
    record("a", "kept", 1)
    record("b", "kept", 1)
    record("c", "rejected", 1)
    record("d", "undone", 1, "it rained so we stayed in")
    record("e", "edited", 1, "the rain kept us indoors")
    record("f", "rejected", None)


def test_feedback_table_and_json() -> None:
    out = run_voiced("feedback").stdout
    assert out.startswith("No feedback yet")
    history()
    lines = run_voiced("feedback").stdout.splitlines()
    assert lines[0].split() == [
        "VOICE",
        "ADAPTER",
        "SHOWN",
        "ACCEPTED",
        "REJECTED",
        "UNDONE",
        "EDITED",
        "KEPT",
        "UNDO",
        "RATE",
        "EDITS",
    ]
    # No adapter yet: the base model is the active one.
    assert lines[1].split() == ["austen", "base", "(active)", "1", "0", "(0%)", "1", "0", "0", "0", "0%", "-"]
    # 3 of 5 accepted (kept twice, edited once); the edit changed 2 of 6 words ("within doors" -> "indoors"),
    # the mean over the three kept or edited is (0 + 0 + 2/6) / 3.
    assert lines[2].split() == ["austen", "v1", "5", "3", "(60%)", "1", "1", "1", "2", "20%", "0.11"]
    assert lines[3] == "austen: 1 preference pairs (the preference stage needs 32)"
    data = json.loads(run_voiced("feedback", "--json", "--voice", "austen").stdout)
    voice = data["voices"]["austen"]
    assert voice["preference_pairs"] == 1 and voice["active_version"] is None
    v1 = voice["adapters"][1]
    assert (v1["adapter_version"], v1["shown"], v1["acceptance_rate"], v1["undo_rate"]) == (1, 5, 0.6, 0.2)
    db = get_paths().corpus_db
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_an_unknown_voice_is_a_clear_error() -> None:
    run_voiced("init")
    result = run_voiced("feedback", "--voice", "nobody", check=False)
    assert result.returncode == 1
    assert "There is no voice named 'nobody'" in result.stderr and "Traceback" not in result.stderr


def test_status_shows_the_active_adapters_acceptance(tmp_path: Path) -> None:
    make_voice(tmp_path)
    registry = Registry.open("austen")
    v1 = registry.finish_version(
        registry.begin_version({}), fake_adapter(tmp_path / "a"), None, {"status": "candidate"}
    )
    registry.activate(v1.number)
    data = json.loads(run_voiced("status", "--json").stdout)
    assert data["voices"]["austen"]["feedback"]["shown"] == 0
    assert "you accepted" not in run_voiced("status").stdout
    history()
    out = run_voiced("status").stdout
    assert "  austen: you accepted 3 of 5 proposals of v1 (60%; undone 20%; `voiced feedback`)" in out
    feedback = json.loads(run_voiced("status", "--json").stdout)["voices"]["austen"]["feedback"]
    assert feedback == {"version": 1, "shown": 5, "accepted": 3, "acceptance_rate": 0.6, "undo_rate": 0.2}
    assert "(active)" in run_voiced("feedback").stdout.splitlines()[2]
