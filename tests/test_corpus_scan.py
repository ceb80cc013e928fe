"""The incremental scanner and the file selection rules, on real folders and a real database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpus_support import texts

from voiced.config import Config, VoiceConfig
from voiced.corpus import CorpusStore
from voiced.corpus.scanner import scan, scan_voice

PARA = "It is a truth universally acknowledged that a writer keeps {} notes."


def prose(*tags: str) -> str:
    return "\n\n".join(PARA.format(tag) for tag in tags) + "\n"


def config_for(*folders: Path, **voice: object) -> Config:
    return Config(voices={"v": VoiceConfig(name="v", folders=[str(f) for f in folders], **voice)})


def test_incremental_rescans_add_edit_touch_rename_delete(store: CorpusStore, notes: Path) -> None:
    config = config_for(notes)
    (notes / "a.md").write_text(prose("red"))
    (notes / "b.txt").write_text(prose("blue"))
    first = scan(store, config)[0]
    assert (first.added, first.files) == (2, 2)
    assert texts(store) == {"a.md": [PARA.format("red")], "b.txt": [PARA.format("blue")]}

    again = scan(store, config)[0]
    assert (again.unchanged, again.added, again.updated) == (2, 0, 0)

    (notes / "a.md").write_text(prose("red", "green"))
    os.utime(notes / "b.txt", ns=(10**18, 10**18))  # touched, bytes identical
    edited = scan(store, config)[0]
    assert (edited.updated, edited.touched, edited.added) == (1, 1, 0)
    assert texts(store)["a.md"] == [PARA.format("red"), PARA.format("green")]
    assert scan(store, config)[0].unchanged == 2  # the touch was recorded, so b.txt is not hashed again

    (notes / "b.txt").rename(notes / "c.txt")
    moved = scan(store, config)[0]
    assert (moved.renamed, moved.removed, moved.added) == (1, 0, 0)
    assert set(texts(store)) == {"a.md", "c.txt"}

    (notes / "a.md").unlink()
    gone = scan(store, config)[0]
    assert gone.removed == 1
    assert texts(store) == {"c.txt": [PARA.format("blue")]}


def test_duplicates_across_files_count_once_and_survive_deleting_the_kept_copy(store: CorpusStore, notes: Path) -> None:
    config = config_for(notes)
    (notes / "a.md").write_text(prose("shared", "only-a"))
    (notes / "b.md").write_text(prose("shared", "only-b"))
    scan(store, config)
    kept = [p.text for d in store.documents_with_passages("v") for p in d.passages]
    assert sorted(kept) == sorted(PARA.format(t) for t in ("shared", "only-a", "only-b"))
    stats = store.stats("v").voice("v")
    assert (stats.passages, stats.duplicates) == (3, 1)
    assert len(list(store.export("v"))) == 3

    (notes / "a.md").unlink()
    scan(store, config)
    assert texts(store) == {"b.md": [PARA.format("shared"), PARA.format("only-b")]}


def test_extraction_error_is_recorded_then_cleared_when_fixed(store: CorpusStore, notes: Path) -> None:
    config = config_for(notes)
    broken = notes / "draft.md"
    (notes / "ok.md").write_text(prose("fine"))
    broken.write_bytes(b"\x00\x01\x02 binary junk saved with a .md name \x00" * 20)
    report = scan(store, config)[0]
    assert report.errors == 1
    [error] = store.errors("v")
    assert error.path == str(broken) and error.reason
    assert set(texts(store)) == {"ok.md"}

    broken.write_text(prose("mended"))
    assert scan(store, config)[0].updated == 1
    assert store.errors("v") == []
    assert texts(store)["draft.md"] == [PARA.format("mended")]


def test_an_error_drops_the_old_passages_of_that_file(store: CorpusStore, notes: Path) -> None:
    config = config_for(notes)
    config.extraction.max_file_bytes = 400
    note = notes / "a.md"
    note.write_text(prose("small"))
    scan(store, config)
    note.write_text(prose(*[str(i) for i in range(20)]))
    assert scan(store, config)[0].errors == 1
    assert "max_file_bytes" in store.errors("v")[0].reason
    assert texts(store) == {}


def test_ignore_rules_hidden_temp_voicedignore_and_excludes(store: CorpusStore, notes: Path) -> None:
    for name in [
        ".obsidian/workspace.md",
        ".git/notes.md",
        ".trash/old.md",
        "sub/.hidden/x.md",
        "~$report.docx",
        "a.md.swp",
        ".#a.md",
        "a.md~",
        "a.tmp",
        "4913",
        "#a.md#",
        "private/secret.md",
        "drafts/d.md",
        "drafts/keep.md",
        "sub/deep/skip.txt",
        "archive/old.md",
        "picture.png",
    ]:
        (notes / name).parent.mkdir(parents=True, exist_ok=True)
        (notes / name).write_text(prose(name))
    for name in ["a.md", "sub/deep/read.md", "sub/b.txt"]:
        (notes / name).parent.mkdir(parents=True, exist_ok=True)
        (notes / name).write_text(prose(name))
    (notes / ".voicedignore").write_text("private/\ndrafts/*\n!drafts/keep.md\n")
    (notes / "sub" / "deep" / ".voicedignore").write_text("*.txt\n")
    scan(store, config_for(notes, exclude=["archive/"]))
    assert sorted(texts(store)) == ["a.md", "b.txt", "keep.md", "read.md"]


def test_include_globs_narrow_the_formats(store: CorpusStore, notes: Path) -> None:
    (notes / "a.md").write_text(prose("md"))
    (notes / "b.txt").write_text(prose("txt"))
    scan(store, config_for(notes, include=["*.md"]))
    assert sorted(texts(store)) == ["a.md"]


def test_symlinked_folder_is_followed_and_a_loop_is_broken(store: CorpusStore, notes: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "linked.md").write_text(prose("linked"))
    (notes / "sub").mkdir()
    (notes / "sub" / "inner.md").write_text(prose("inner"))
    (notes / "outside").symlink_to(elsewhere, target_is_directory=True)
    (notes / "sub" / "loop").symlink_to(notes, target_is_directory=True)
    (elsewhere / "back").symlink_to(notes, target_is_directory=True)
    report = scan(store, config_for(notes))[0]
    assert report.files == 2
    assert sorted(texts(store)) == ["inner.md", "linked.md"]


def test_missing_folder_is_reported_and_its_records_kept(store: CorpusStore, notes: Path, tmp_path: Path) -> None:
    (notes / "a.md").write_text(prose("kept"))
    config = config_for(notes)
    scan(store, config)
    notes.rename(tmp_path / "unmounted")
    report = scan(store, config)[0]
    assert report.missing_folders == [str(notes)]
    assert set(texts(store)) == {"a.md"}
    never = config_for(tmp_path / "never-existed")
    assert scan(store, never)[0].missing_folders == [str(tmp_path / "never-existed")]


def test_parallel_extraction_matches_sequential(
    store: CorpusStore, notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import voiced.corpus.scanner as scanner

    monkeypatch.setattr(scanner, "PARALLEL_MIN_FILES", 2)
    for i in range(12):
        (notes / f"{i:02d}.md").write_text(prose(f"note {i}", f"more {i}"))
    (notes / "bad.md").write_bytes(b"\x00\x01 binary \x00" * 50)
    events: list[dict] = []
    report = scan_voice(store, config_for(notes).voice("v"), Config().extraction, events.append, workers=2)
    assert (report.added, report.errors) == (12, 1)
    assert [e["done"] for e in events if e["path"]] == list(range(1, 14))
    with CorpusStore(tmp_path / "sequential.sqlite3") as sequential:
        scan_voice(sequential, config_for(notes).voice("v"), Config().extraction, workers=1)
        assert texts(sequential) == texts(store)
        assert [e.path for e in sequential.errors()] == [e.path for e in store.errors()]


def test_progress_reports_small_dicts(store: CorpusStore, notes: Path) -> None:
    for i in range(3):
        (notes / f"{i}.md").write_text(prose(str(i)))
    events: list[dict] = []
    scan_voice(store, config_for(notes).voice("v"), Config().extraction, events.append)
    reads = [e for e in events if e["phase"] == "read" and e["path"]]
    assert [e["done"] for e in reads] == [1, 2, 3]
    assert all(e["total"] == 3 for e in reads)
    assert events[-1]["phase"] == "done"


def test_a_full_scan_forgets_voices_no_longer_configured(store: CorpusStore, notes: Path) -> None:
    (notes / "a.md").write_text(prose("a"))
    scan(store, config_for(notes))
    scan(store, Config(voices={"other": VoiceConfig(name="other", folders=[str(notes)])}))
    assert texts(store) == {}
    assert store.stats().voice("other").documents == 1
