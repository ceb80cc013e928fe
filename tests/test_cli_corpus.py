"""The corpus commands end to end on real files, through the real CLI."""

from __future__ import annotations

import json
import shutil

from data_support import DEMO_CORPUS
from process_support import run_voiced


def _demo_voice(tmp_path):
    notes = tmp_path / "notes"
    shutil.copytree(DEMO_CORPUS, notes)
    run_voiced("init", "--voice", "austen")
    run_voiced("add", str(notes), "--voice", "austen")
    return notes


def test_scan_corpus_show_export(tmp_path):
    notes = _demo_voice(tmp_path)
    scanned = run_voiced("scan").stdout
    assert "austen: 8 files: 8 added" in scanned  # README.md is in .voicedignore

    table = run_voiced("corpus").stdout
    assert str(notes) in table and "total" in table
    stats = json.loads(run_voiced("corpus", "--json").stdout)[0]
    assert stats["documents"] == 8 and stats["words"] > 20_000 and stats["errors"] == 0

    shown = run_voiced("corpus", "show", "-n", "3").stdout
    assert shown.count("words") >= 3 and "Chapter" in shown
    # Extraction drops what is not prose: front matter, code, Obsidian comments.
    exported = [json.loads(line) for line in run_voiced("corpus", "export").stdout.splitlines()]
    assert len(exported) > 200
    texts = "\n".join(row["text"] for row in exported)
    for junk in ("draft: false", "print(", "%%", "[[", "[!note]"):
        assert junk not in texts
    assert all(row["section"] for row in exported)
    assert {"voice", "path", "section", "order", "text", "words"} <= set(exported[0])

    again = run_voiced("scan").stdout
    assert "0 added, 0 updated" in again and "8 unchanged" in again


def test_errors_are_listed(tmp_path):
    notes = _demo_voice(tmp_path)
    run_voiced("scan")
    before = json.loads(run_voiced("corpus", "--json").stdout)[0]
    (notes / "broken.docx").write_bytes(b"PK\x03\x04 this is not a whole zip file")
    (notes / "binary.md").write_bytes(b"\x00\x01\x02\xff" * 200)
    run_voiced("scan")
    listed = run_voiced("corpus", "--errors").stdout
    assert "broken.docx" in listed and "binary.md" in listed
    rows = json.loads(run_voiced("corpus", "--errors", "--json").stdout)
    assert {r["path"].rsplit("/", 1)[-1] for r in rows} == {"broken.docx", "binary.md"}
    assert all(r["reason"] for r in rows)
    # The good files are untouched by the bad ones.
    after = json.loads(run_voiced("corpus", "--json").stdout)[0]
    assert (after["passages"], after["words"], after["errors"]) == (before["passages"], before["words"], 2)


def test_export_to_file_and_unknown_voice(tmp_path):
    _demo_voice(tmp_path)
    run_voiced("scan")
    target = tmp_path / "out.jsonl"
    result = run_voiced("corpus", "export", "--voice", "austen", "-o", str(target))
    assert "Wrote" in result.stderr
    assert len(target.read_text().splitlines()) > 200
    missing = run_voiced("corpus", "show", "--voice", "nobody", check=False)
    assert missing.returncode == 1 and "no voice named" in missing.stderr


def test_watch_command_reports_changes_until_interrupted(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    notes = _demo_voice(tmp_path)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "voiced", "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONFAULTHANDLER="1"),  # so SIGABRT prints every thread's stack
        # As a shell's background job starts it: SIGINT ignored. Python then raises no KeyboardInterrupt,
        # which is why this test hung whenever the suite itself ran in the background; the watcher's own
        # handler must stop it anyway.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert "Watching 1 folder(s) of 1 voice(s)" in watcher.stdout.readline()
        seen = []
        deadline = time.monotonic() + 120
        new_note = notes / "Persuasion" / "New scene.md"
        while time.monotonic() < deadline:
            line = watcher.stdout.readline()
            seen.append(line)
            if "scanned" in line and not new_note.exists():
                new_note.write_text("# Scene\n\nAnne walked along the Cobb at Lyme, thinking of nothing but the sea.\n")
            if "added" in line and "New scene.md" in line:
                break
        assert any("added" in line and "New scene.md" in line for line in seen), seen
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            out, err = watcher.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # Never leave a watcher behind; say what it printed and where each of its threads was stuck.
            watcher.send_signal(signal.SIGABRT)
            try:
                out, err = watcher.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                watcher.kill()
                out, err = watcher.communicate()
            raise AssertionError(f"voiced watch did not exit after Ctrl-C:\n{out}\n{err}") from None
    assert "Stopped." in out and "Traceback" not in err
    exported = run_voiced("corpus", "export").stdout
    assert "Anne walked along the Cobb" in exported
