"""The folder watcher end to end: real files, real inotify events, a real database."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_support import texts
from process_support import wait_for

from voiced.config import Config, VoiceConfig, WatchSettings
from voiced.corpus import CorpusStore
from voiced.corpus.watcher import CorpusWatcher, watch_forever

PARA = "She walked along the shore and thought about the {} letter again."
TIMEOUT = 10.0


def prose(*tags: str) -> str:
    return "\n\n".join(PARA.format(tag) for tag in tags) + "\n"


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        with self.lock:
            self.events.append(event)

    def changes(self, path: Path, *kinds: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["path"] == str(path) and (not kinds or e["change"] in kinds)]


@pytest.fixture
def config(notes: Path) -> Config:
    return Config(
        voices={"v": VoiceConfig(name="v", folders=[str(notes)])},
        watch=WatchSettings(debounce_seconds=0.1, rescan_missing_seconds=0.2),
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def watcher(store: CorpusStore, config: Config, recorder: Recorder) -> Iterator[CorpusWatcher]:
    with CorpusWatcher(store, config, recorder) as running:
        yield running


def test_create_save_and_delete(watcher: CorpusWatcher, store: CorpusStore, notes: Path) -> None:
    note = notes / "a.md"
    note.write_text(prose("first"))
    wait_for(lambda: texts(store).get("a.md") == [PARA.format("first")], "the new note")
    note.write_text(prose("first", "second"))
    wait_for(lambda: texts(store).get("a.md") == [PARA.format("first"), PARA.format("second")], "the saved note")
    note.unlink()
    wait_for(lambda: "a.md" not in texts(store), "the deleted note to go")


def test_temp_file_renamed_over_the_note(
    watcher: CorpusWatcher, store: CorpusStore, notes: Path, recorder: Recorder
) -> None:
    note = notes / "a.md"
    note.write_text(prose("old"))
    wait_for(lambda: "a.md" in texts(store), "the note")
    temp = notes / ".a.md.tmp"
    temp.write_text(prose("new"))
    os.replace(temp, note)
    wait_for(lambda: texts(store).get("a.md") == [PARA.format("new")], "the atomically saved note")
    assert set(texts(store)) == {"a.md"}
    assert recorder.changes(temp) == []


def test_burst_of_saves_is_read_once(
    watcher: CorpusWatcher, store: CorpusStore, notes: Path, recorder: Recorder
) -> None:
    note = notes / "a.md"
    for i in range(20):
        note.write_text(prose(f"draft {i}"))
    wait_for(lambda: texts(store).get("a.md") == [PARA.format("draft 19")], "the last draft")
    assert watcher.wait_idle(TIMEOUT)
    assert 1 <= len(recorder.changes(note, "added", "updated")) < 5


def test_rename_within_moves_the_record_and_moves_out_and_in(
    watcher: CorpusWatcher, store: CorpusStore, notes: Path, tmp_path: Path, recorder: Recorder
) -> None:
    (notes / "a.md").write_text(prose("travelling"))
    wait_for(lambda: "a.md" in texts(store), "the note")
    (notes / "sub").mkdir()
    # Let the new folder be watched first: a move into a folder not yet watched arrives as a delete plus
    # a folder rescan, which ends in the same corpus but records "added" rather than "renamed". A note
    # written inside it and seen in the corpus proves the watch is there (idle alone did not, under load).
    (notes / "sub" / "probe.md").write_text(prose("probing"))
    wait_for(lambda: "probe.md" in texts(store), "a note in the new folder")
    (notes / "sub" / "probe.md").unlink()
    wait_for(lambda: set(texts(store)) == {"a.md"}, "the probe note to go")
    assert watcher.wait_idle(TIMEOUT)
    (notes / "a.md").rename(notes / "sub" / "b.md")
    wait_for(lambda: set(texts(store)) == {"b.md"}, "the renamed note")
    assert recorder.changes(notes / "sub" / "b.md", "renamed")
    outside = tmp_path / "outside.md"
    (notes / "sub" / "b.md").rename(outside)
    wait_for(lambda: texts(store) == {}, "the note moved out to go")
    outside.rename(notes / "back.md")
    wait_for(lambda: set(texts(store)) == {"back.md"}, "the note moved in")


def test_ignored_files_never_reach_the_corpus(watcher: CorpusWatcher, store: CorpusStore, notes: Path) -> None:
    (notes / ".obsidian").mkdir()
    (notes / ".obsidian" / "workspace.md").write_text(prose("hidden"))
    (notes / "a.md.swp").write_text(prose("swap"))
    (notes / ".voicedignore").write_text("private/\n")
    (notes / "private").mkdir()
    (notes / "private" / "secret.md").write_text(prose("secret"))
    (notes / "visible.md").write_text(prose("visible"))
    wait_for(lambda: "visible.md" in texts(store), "the visible note")
    assert watcher.wait_idle(TIMEOUT)
    assert set(texts(store)) == {"visible.md"}
    (notes / ".voicedignore").write_text("private/\nvisible.md\n")
    wait_for(lambda: texts(store) == {}, "a newly ignored note to leave the corpus")


def test_folder_removed_and_recreated(
    watcher: CorpusWatcher, store: CorpusStore, notes: Path, recorder: Recorder
) -> None:
    (notes / "a.md").write_text(prose("before"))
    wait_for(lambda: "a.md" in texts(store), "the note")
    shutil.rmtree(notes)
    wait_for(lambda: recorder.changes(notes, "folder-missing"), "the folder to be seen missing")
    notes.mkdir()
    (notes / "b.md").write_text(prose("after"))
    wait_for(lambda: set(texts(store)) == {"b.md"}, "the recreated folder's note")
    (notes / "c.md").write_text(prose("watched again"))
    wait_for(lambda: set(texts(store)) == {"b.md", "c.md"}, "a note written after the folder came back")


def test_watch_forever_scans_first_and_stops(store: CorpusStore, config: Config, notes: Path) -> None:
    (notes / "before.md").write_text(prose("already there"))
    stop = threading.Event()
    progress: list[dict] = []
    runner = threading.Thread(
        target=watch_forever, args=(store, config), kwargs={"stop": stop, "progress": progress.append}
    )
    runner.start()
    try:
        wait_for(lambda: "before.md" in texts(store), "the first scan")
        (notes / "later.md").write_text(prose("written while watching"))
        wait_for(lambda: "later.md" in texts(store), "the watched edit")
    finally:
        stop.set()
        runner.join(TIMEOUT)
    assert not runner.is_alive()
    assert any(e["phase"] == "done" for e in progress)


def test_reconfigure_watches_added_folders_and_drops_removed_ones(
    watcher: CorpusWatcher, store: CorpusStore, config: Config, notes: Path, tmp_path: Path
) -> None:
    (notes / "a.md").write_text(prose("old folder"))
    wait_for(lambda: "a.md" in texts(store), "the note in the first folder")
    added = tmp_path / "added"
    added.mkdir()
    (added / "b.md").write_text(prose("there before the folder was added"))
    watcher.reconfigure(Config(voices={"v": VoiceConfig(name="v", folders=[str(added)])}, watch=config.watch))
    wait_for(lambda: set(texts(store)) == {"b.md"}, "the added folder read and the removed one's note gone")
    (added / "c.md").write_text(prose("written in the added folder"))
    wait_for(lambda: "c.md" in texts(store), "an edit in the added folder")
    (notes / "d.md").write_text(prose("written in the removed folder"))
    (added / "e.md").write_text(prose("a later edit"))
    wait_for(lambda: "e.md" in texts(store), "a later edit in the added folder")
    assert watcher.wait_idle() and "d.md" not in texts(store)  # the removed folder is no longer watched


def test_stop_is_bounded_when_the_observer_hangs(
    store: CorpusStore, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A wedged watchdog stop (it joins its emitters without a timeout) must not keep `voiced watch`
    from exiting after Ctrl-C: the stop gives up after its timeout and says so."""
    import time

    running = CorpusWatcher(store, config)
    running.start()
    observer = running._observer
    real_stop = observer.stop
    release = threading.Event()
    observer.stop = lambda: release.wait(30)  # the hang: a stop that does not return
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="voiced.corpus.watcher"):
        running.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    assert "did not stop within" in caplog.text
    release.set()
    real_stop()
    observer.join(TIMEOUT)
    assert not observer.is_alive()
