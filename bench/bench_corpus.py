"""Corpus benchmark: initial scan of a 10,000-note vault, and save-to-database latency through the watcher.

Builds an Obsidian-like vault (front matter, headings, wiki links, paragraphs
cut from the Austen novels in /work/shared/corpora/austen), then measures:

* the initial scan with the real store and extractors (target: under 30 s),
  beside the raw cost of reading and hashing the same files (no extraction, no
  database) and an unchanged rescan;
* the time from saving a note to its new passages being committed, through the
  real watcher (target: p95 under 500 ms), beside the debounce quiet time and
  the cost of syncing the same file directly, without the watcher.

    .venv/bin/python bench/bench_corpus.py [--notes 10000] [--dir VAULT] [--saves 100]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AUSTEN = REPO.parent / "shared" / "corpora" / "austen"
TARGET_SCAN_SECONDS = 30.0
TARGET_SAVE_P95_MS = 500.0


def austen_paragraphs() -> list[str]:
    paragraphs = []
    for book in sorted(AUSTEN.glob("*.txt")):
        for block in book.read_text(encoding="utf-8").split("\n\n"):
            text = " ".join(block.split())
            if len(text.split()) >= 12:
                paragraphs.append(text)
    if not paragraphs:
        sys.exit(f"No Austen text found under {AUSTEN}.")
    return paragraphs


def note_text(index: int, paragraphs: list[str], rng: random.Random, target_bytes: int) -> str:
    """A note like a writer's vault holds: front matter, headings, links, prose."""
    lines = [
        "---",
        f"title: Note {index:05d}",
        f"tags: [draft, chapter-{index % 40}]",
        f"created: 2024-{1 + index % 12:02d}-{1 + index % 28:02d}",
        "---",
        "",
        f"# Note {index:05d}",
        "",
    ]
    size = sum(len(line) + 1 for line in lines)
    section = 0
    while size < target_bytes:
        if rng.random() < 0.2:
            section += 1
            lines += [f"## Part {section}", ""]
        text = rng.choice(paragraphs)
        if rng.random() < 0.3:
            text += f" See [[Note {rng.randrange(10_000):05d}]]."
        # Each note's copy is its own: the benchmark measures the scan, not the duplicate filter.
        text += f" ({index}.{section})"
        lines += [text, ""]
        size += len(text) + 2
    return "\n".join(lines)


def build_vault(root: Path, notes: int, total_bytes: int) -> tuple[int, int]:
    paragraphs = austen_paragraphs()
    rng = random.Random(1234)
    per_note = total_bytes // notes
    written = 0
    for index in range(notes):
        folder = root / f"folder-{index // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        text = note_text(index, paragraphs, rng, per_note)
        (folder / f"note-{index:05d}.md").write_text(text, encoding="utf-8")
        written += len(text.encode("utf-8"))
    (root / ".obsidian").mkdir(exist_ok=True)
    (root / ".obsidian" / "workspace.json").write_text("{}")
    return notes, written


def read_and_hash(root: Path) -> tuple[int, int, float]:
    """Reference: walk, read and hash every note; no extraction, no database."""
    started = time.perf_counter()
    files = size = 0
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(".md"):
                data = Path(directory, name).read_bytes()
                hashlib.blake2b(data, digest_size=16).hexdigest()
                files += 1
                size += len(data)
    return files, size, time.perf_counter() - started


def measure_saves(store, config, vault: Path, saves: int) -> tuple[list[float], list[float]]:
    """Latency (ms) from a save to the commit of its passages, through the watcher and directly."""
    from voiced.corpus.scanner import sync_file
    from voiced.corpus.selection import SeenFile
    from voiced.corpus.watcher import CorpusWatcher

    done: dict[str, threading.Event] = {}
    finished: dict[str, float] = {}

    def on_change(event: dict) -> None:
        if event["change"] in ("updated", "added") and event["path"] in done:
            finished[event["path"]] = time.perf_counter()
            done[event["path"]].set()

    notes = sorted(vault.rglob("note-*.md"))
    rng = random.Random(99)
    through_watcher: list[float] = []
    with CorpusWatcher(store, config, on_change) as watcher:
        watcher.wait_idle(30)
        for i in range(saves):
            note = rng.choice(notes)
            key = str(note)
            done[key] = threading.Event()
            text = note.read_text(encoding="utf-8") + f"\nA new line of prose written in save number {i} today.\n"
            started = time.perf_counter()
            note.write_text(text, encoding="utf-8")
            if not done[key].wait(10):
                print(f"  save {i}: no update within 10 s", file=sys.stderr)
                continue
            through_watcher.append((finished[key] - started) * 1000)
            del done[key]
            watcher.wait_idle(10)

    direct: list[float] = []
    voice = config.voice("bench")
    for i in range(min(saves, 50)):
        note = rng.choice(notes)
        note.write_text(note.read_text(encoding="utf-8") + f"\nDirect save {i} adds this sentence here.\n")
        started = time.perf_counter()
        info = note.stat()
        known = store.document(voice.name, str(note))
        sync_file(
            store, voice.name, str(vault), SeenFile(str(note), info.st_size, info.st_mtime_ns), known, config.extraction
        )
        direct.append((time.perf_counter() - started) * 1000)
    return through_watcher, direct


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--dir", type=Path, help="build the vault here (default: a temp dir)")
    parser.add_argument("--saves", type=int, default=100)
    parser.add_argument("--workers", type=int, default=0, help="extraction processes (0: one per core, 1: none)")
    parser.add_argument("--profile", action="store_true", help="cProfile the initial scan")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="voiced-bench-") as scratch:
        os.environ["VOICED_HOME"] = str(Path(scratch) / "home")
        from voiced.config import Config, VoiceConfig, WatchSettings
        from voiced.corpus import CorpusStore
        from voiced.corpus.scanner import scan

        vault = args.dir or Path(scratch) / "vault"
        started = time.perf_counter()
        files, size = build_vault(vault, args.notes, int(args.megabytes * 1_000_000))
        print(
            f"vault: {files} notes, {size / 1e6:.1f} MB built in {time.perf_counter() - started:.1f} s "
            f"at {vault} ({os.cpu_count()} CPUs)"
        )

        ref_files, ref_size, ref_seconds = read_and_hash(vault)
        config = Config(
            voices={"bench": VoiceConfig(name="bench", folders=[str(vault)])},
            watch=WatchSettings(scan_workers=args.workers),
        )
        store = CorpusStore.open()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        [report] = scan(store, config)
        scan_seconds = time.perf_counter() - started
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        started = time.perf_counter()
        [again] = scan(store, config)
        rescan_seconds = time.perf_counter() - started
        stats = store.stats("bench").voice("bench")

        workers = args.workers or f"{os.cpu_count()} (one per core)"
        print(
            f"\ninitial scan, {workers} extraction workers: {report.added} notes, {stats.passages} passages, "
            f"{stats.words} words, {report.errors} errors"
        )
        print(
            f"  scan          {scan_seconds:7.2f} s  {files / scan_seconds:8.0f} files/s  "
            f"{size / 1e6 / scan_seconds:6.1f} MB/s   target < {TARGET_SCAN_SECONDS:.0f} s  "
            f"{'MET' if scan_seconds < TARGET_SCAN_SECONDS else 'MISSED'}"
        )
        print(
            f"  read+hash     {ref_seconds:7.2f} s  {ref_files / ref_seconds:8.0f} files/s  "
            f"{ref_size / 1e6 / ref_seconds:6.1f} MB/s   (reference: no extraction, no database)"
        )
        print(f"  rescan        {rescan_seconds:7.2f} s  ({again.unchanged} unchanged, nothing re-read)")

        if args.saves <= 0:
            store.close()
            return
        through, direct = measure_saves(store, config, vault, args.saves)
        print(f"\nsave -> passages committed, {len(through)} saves through the watcher:")
        if through:
            p95 = percentile(through, 0.95)
            print(
                f"  watcher       p50 {statistics.median(through):6.0f} ms  p95 {p95:6.0f} ms  "
                f"max {max(through):6.0f} ms   target p95 < {TARGET_SAVE_P95_MS:.0f} ms  "
                f"{'MET' if p95 < TARGET_SAVE_P95_MS else 'MISSED'}"
            )
        print(
            f"  direct sync   p50 {statistics.median(direct):6.1f} ms  p95 {percentile(direct, 0.95):6.1f} ms"
            f"   (reference: the same work without events or debounce)"
        )
        print(f"  debounce      {config.watch.debounce_seconds * 1000:6.0f} ms   (reference: the quiet time waited)")
        store.close()


if __name__ == "__main__":
    main()
