"""What `voiced.status` returns and says, from recorded daemon answers (no LSP, no daemon)."""

from __future__ import annotations

from voiced.lsp.summary import status_summary, version_entries, with_versions

LISTING = {
    "voice": "mine",
    "active": 2,
    "history": [None, 1],
    "versions": [
        {
            "version": 1,
            "status": "rejected",
            "active": False,
            "reason": "not better than the base model",
            "manifest": {"created": "2025-01-01T00:00:00+00:00"},
        },
        {
            "version": 2,
            "status": "active",
            "active": True,
            "reason": "",
            "manifest": {
                "created": "2025-01-02T00:00:00+00:00",
                "finished": "2025-01-02T00:10:00+00:00",
                "scores": {"test_nll": {"base": 2.5, "candidate": 2.2}},
                "corpus": {"words": 9000},
            },
        },
    ],
}


def test_version_entries_keep_what_a_pick_list_needs():
    first, second = version_entries(LISTING)
    assert first == {
        "version": 1,
        "status": "rejected",
        "active": False,
        "reason": "not better than the base model",
        "created": "2025-01-01T00:00:00+00:00",
        "finished": None,
        "scores": {},
        "words": None,
    }
    assert second["active"] and second["scores"]["test_nll"]["candidate"] == 2.2 and second["words"] == 9000


def test_summary_names_the_active_adapter_and_the_versions():
    status = with_versions(
        {"voices": ["mine", "other"], "engine": {"mine": {"adapter_version": 2}}}, {"mine": LISTING, "other": None}
    )
    assert status["adapters"]["other"] == []
    assert status_summary(status) == (
        "mine: adapter v2 (versions: v1 rejected, v2 active); other: base model (no adapter trained yet)"
    )


def test_summary_with_versions_but_none_active():
    status = with_versions({"voices": ["mine"], "engine": {}}, {"mine": {"versions": LISTING["versions"][:1]}})
    assert status_summary(status) == "mine: base model, no adapter active (versions: v1 rejected)"
