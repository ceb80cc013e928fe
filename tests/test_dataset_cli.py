"""`voiced dataset build|show|export|view` end to end on the demo corpus, and the HTML viewer."""

from __future__ import annotations

import html
import json
import shutil
import stat
import subprocess

import pytest
from data_support import DEMO_CORPUS
from process_support import run_voiced

from voiced.trainer.dataset import Example
from voiced.trainer.viewer import render_html


def test_build_show_export_view(tmp_path, voiced_home):
    notes = tmp_path / "notes"
    shutil.copytree(DEMO_CORPUS, notes)
    run_voiced("init", "--voice", "austen")
    run_voiced("add", str(notes), "--voice", "austen")
    missing = run_voiced("dataset", "show", check=False)
    assert missing.returncode == 1 and "voiced dataset build" in missing.stderr
    run_voiced("scan")

    page = tmp_path / "view.html"
    built = run_voiced("dataset", "build", "--voice", "austen", "--html", str(page)).stdout
    assert "train" in built and "rewrite" in built and "paragraph" in built
    folder = voiced_home / "data" / "datasets" / "austen"
    summary = json.loads((folder / "summary.json").read_text())
    assert all(summary["examples"][split] > 0 for split in ("train", "valid", "test"))
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl", "summary.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = json.loads((folder / "train.jsonl").read_text().splitlines()[0])
    assert page.is_file() and html.escape(first["response_parts"][0]) in page.read_text()

    shown = run_voiced("dataset", "show", "--split", "valid", "-n", "2").stdout
    assert shown.count("[response]") == 2

    out = tmp_path / "export"
    run_voiced("dataset", "export", "--out", str(out))
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(rows) == summary["examples"]["train"]
    assert rows[0] == {"messages": first["messages"]}
    assert {p.name for p in out.iterdir()} == {"train.jsonl", "valid.jsonl", "test.jsonl"}

    viewer = tmp_path / "again.html"
    run_voiced("dataset", "view", str(viewer))
    assert viewer.read_text().count("<article") == sum(summary["examples"].values())

    # The [dataset] settings of the config file reach the build; documents keep their splits.
    config = voiced_home / "config" / "config.toml"
    config.write_text(
        config.read_text() + "\n[dataset]\nsection_weight = 0.0\ndocument_weight = 0.0\nrewrite_share = 1.0\n"
    )
    run_voiced("dataset", "build")
    rebuilt = json.loads((folder / "summary.json").read_text())
    assert rebuilt["shapes"] == {"paragraph": sum(rebuilt["examples"].values())}
    assert rebuilt["tasks"] == {"rewrite": sum(rebuilt["examples"].values())}
    assert rebuilt["document_splits"] == summary["document_splits"]


def test_a_too_small_corpus_is_a_clear_error(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "one.md").write_text("# Note\n\nAnne walked to Uppercross in the rain, and Mary was not pleased.\n")
    run_voiced("init", "--voice", "tiny")
    run_voiced("add", str(notes), "--voice", "tiny")
    run_voiced("scan")
    failed = run_voiced("dataset", "build", check=False)
    assert failed.returncode == 1 and "at least 2,000" in failed.stderr and "Traceback" not in failed.stderr


HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


def _hostile_example() -> Example:
    return Example(
        id="h",
        task="rewrite",
        shape="paragraph",
        split="test",
        document="<b>doc</b>.md",
        section=("<i>Part</i>",),
        system_prompt="S",
        prompt_parts=(HOSTILE,),
        response_parts=("Anne said: " + HOSTILE,),
        rough_style="generic",
    )


def test_viewer_escapes_every_text_and_carries_its_script():
    page = render_html([_hostile_example()], "<title>")
    assert HOSTILE not in page and "<img" not in page and "<b>doc" not in page and "<i>Part" not in page
    assert html.escape(HOSTILE) in page and html.escape("<b>doc</b>.md") in page
    assert page.count("<script>") == 1 and "keydown" in page and "'j'" in page and "ArrowDown" in page
    assert "http://" not in page and "https://" not in page  # nothing loaded from a network
    assert 'data-split="test"' in page and 'data-task="rewrite"' in page and "Rough draft" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_viewer_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "v.html"
    page.write_text(render_html([_hostile_example()], "viewer"))
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    dom = result.stdout
    assert "1 / 1" in dom  # the script ran and counted the examples
    assert "Anne said" in dom and "<img" not in dom  # the hostile text shows as text, never as markup
