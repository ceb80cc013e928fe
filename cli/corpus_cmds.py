"""The corpus: `voiced corpus [show|export|rebuild] [--errors]`, `voiced scan`, `voiced watch`."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from voiced.cli.errors import UserFacingError
from voiced.config import load_config
from voiced.corpus.store import CorpusStore


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else "never"


def _voice_names(voice: str | None) -> list[str]:
    config = load_config()
    return [config.voice(voice).name] if voice else list(config.voices)


class _ScanProgress:
    """A tqdm bar per voice, fed by the scanner's progress dicts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None or self.bar.desc != event["voice"]:
            self.close()
            self.bar = tqdm(total=event["total"], desc=event["voice"], unit="file", file=sys.stderr, leave=False)
        self.bar.total = event["total"]
        self.bar.n = event["done"]
        self.bar.refresh()
        if event["phase"] == "done":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@click.group(invoke_without_command=True)
@click.option("--voice", help="Only this voice.")
@click.option("--errors", "show_errors", is_flag=True, help="List skipped files and why.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def corpus(ctx: click.Context, voice: str | None, show_errors: bool, as_json: bool) -> None:
    """Documents, passages and words per voice and per folder."""
    if ctx.invoked_subcommand is not None:
        return
    names = _voice_names(voice)
    with CorpusStore.open() as store:
        if show_errors:
            rows = [row for name in names for row in store.errors(name)]
            if as_json:
                click.echo(json.dumps([row.__dict__ for row in rows], indent=2))
            elif not rows:
                click.echo("No files were skipped.")
            for row in rows if not as_json else ():
                click.secho(row.path + ("/" if row.kind == "folder" else ""), bold=True)
                click.echo(f"  {row.reason} ({_when(row.when)}, voice {row.voice})")
            return
        stats = store.stats()
    voices = [stats.voice(name) for name in names]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        **{k: v for k, v in s.__dict__.items() if k != "folders"},
                        "folders": [f.__dict__ for f in s.folders.values()],
                    }
                    for s in voices
                ],
                indent=2,
            )
        )
        return
    header = f"{'':2}{'documents':>10} {'passages':>9} {'words':>9} {'skipped':>8}  last change"
    for s in voices:
        click.secho(f"{s.voice}", bold=True)
        click.echo(header)
        for folder in s.folders.values():
            click.echo(
                f"  {folder.documents:>10} {folder.passages:>9} {folder.words:>9} {folder.errors:>8}  "
                f"{_when(folder.last_change)}  {folder.folder}"
            )
        click.echo(f"  {s.documents:>10} {s.passages:>9} {s.words:>9} {s.errors:>8}  {_when(s.last_change)}  total")
        if s.duplicates:
            click.echo(f"  ({s.duplicates} duplicate passages counted once)")
        if s.errors:
            click.echo("  `voiced corpus --errors` lists the skipped files.")
        if s.unreadable:
            click.echo(
                f"  {s.unreadable} folder(s) or link(s) could not be entered (their documents are kept): "
                "`voiced corpus --errors`."
            )
        if not s.documents:
            click.echo("  Nothing read yet: `voiced add FOLDER`, then `voiced scan`.")


@corpus.command("show")
@click.option("--voice", help="Voice to sample (default: the first).")
@click.option("-n", "count", default=5, show_default=True, help="How many passages.")
@click.option("--seed", default=0, show_default=True, help="Another seed shows other passages.")
def corpus_show(voice: str | None, count: int, seed: int) -> None:
    """Sample passages exactly as extracted, with their document and section."""
    name = load_config().voice(voice).name
    with CorpusStore.open() as store:
        rows = store.sample(name, count, seed)
    if not rows:
        click.echo(f"The voice {name!r} has no passages yet: run `voiced scan`.")
    for row in rows:
        where = " > ".join(row.section) or "(no heading)"
        click.secho(f"{row.path}  [{where}]  #{row.order}, {row.words} words", bold=True)
        click.echo(textwrap.indent(row.text, "  "))
        click.echo()


@corpus.command("export")
@click.option("--voice", help="Only this voice (default: every voice).")
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File to write (default: standard output).",
)
def corpus_export(voice: str | None, output: Any) -> None:
    """Write every kept passage as JSON Lines: voice, path, section, order, text, words."""
    name = load_config().voice(voice).name if voice else None
    written = 0
    with CorpusStore.open() as store:
        for row in store.export(name):
            output.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
            written += 1
    if output is not sys.stdout:
        click.echo(f"Wrote {written} passages to {output.name}.", err=True)


def _print_report(report: Any) -> None:
    click.echo(
        f"{report.voice}: {report.files} files: {report.added} added, {report.updated} updated, "
        f"{report.renamed} renamed, {report.removed} removed, {report.errors} skipped, "
        f"{report.unchanged + report.touched} unchanged ({report.seconds:.1f} s)"
    )
    for folder in report.missing_folders:
        click.secho(
            f"  {folder} does not exist (kept its passages; `voiced remove` it if it is gone for good)", fg="yellow"
        )
    if report.errors:
        click.echo("  `voiced corpus --errors` says why files were skipped.")
    for path in report.unreadable:
        click.secho(f"  {path} could not be entered (documents kept; `voiced corpus --errors` says why)", fg="yellow")


@click.command()
@click.option("--voice", help="Only this voice (default: every voice).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def scan(voice: str | None, quiet: bool) -> None:
    """Read every folder now; only changed files are re-read."""
    from voiced.corpus.damage import check_file, damaged
    from voiced.corpus.scanner import scan as scan_corpus
    from voiced.paths import get_paths

    config = load_config()
    voices = [config.voice(voice).name] if voice else None
    bar = _ScanProgress(enabled=not quiet and sys.stderr.isatty())
    db_path = get_paths().corpus_db
    started = time.monotonic()
    problems = check_file(db_path)  # before opening it for writing: never write into a damaged file
    if problems:
        raise damaged(db_path, problems)
    checked = time.monotonic() - started
    with CorpusStore.open() as store:
        try:
            reports = scan_corpus(store, config, voices, progress=bar)
        finally:
            bar.close()
    for report in reports:
        _print_report(report)
    click.echo(f"Corpus database checked: no damage found ({checked:.1f} s).")


@corpus.command("rebuild")
@click.option("--force", is_flag=True, help="Rebuild even though the database passes its integrity check.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def corpus_rebuild(force: bool, quiet: bool) -> None:
    """Set a damaged corpus database aside (renamed, kept) and read every folder again."""
    from voiced.corpus.damage import check_file
    from voiced.corpus.rebuild import rebuild_corpus
    from voiced.corpus.records import CorpusError
    from voiced.daemon.state import lock_is_held
    from voiced.paths import get_paths

    config = load_config()
    if lock_is_held():
        raise UserFacingError(
            "The daemon is running and has the corpus open. Run `voiced daemon stop`, "
            "then `voiced corpus rebuild`, then `voiced daemon start`."
        )
    try:
        problems = check_file(get_paths().corpus_db)
    except CorpusError as exc:  # too damaged to open at all
        problems = [exc.message]
    if not problems and not force:
        click.echo(
            "The corpus database passes its integrity check; nothing to rebuild "
            "(`voiced corpus rebuild --force` reads every folder into a new one anyway)."
        )
        return
    for problem in problems[:3]:
        click.echo(f"Damage found: {problem}")
    bar = _ScanProgress(enabled=not quiet and sys.stderr.isatty())
    try:
        rebuilt = rebuild_corpus(config, progress=bar)
    finally:
        bar.close()
    if rebuilt.moved_to is not None:
        click.echo(f"The old database is kept as {rebuilt.moved_to} (delete it when you no longer need it).")
    for report in rebuilt.reports:
        _print_report(report)
    click.echo("The corpus was rebuilt from your folders.")


def _change_printer() -> Callable[[dict[str, Any]], None]:
    def show(event: dict[str, Any]) -> None:
        stamp = datetime.fromtimestamp(event["time"]).strftime("%H:%M:%S")
        click.echo(f"{stamp} {event['voice']}: {event['change']} {event['path']}")

    return show


@click.command()
def watch() -> None:
    """Keep the corpus current as you write (foreground; Ctrl-C or SIGTERM stops)."""
    import signal
    import threading

    from voiced.corpus.watcher import watch_forever

    config = load_config()
    folders = sum(len(v.folders) for v in config.voices.values())
    click.echo(f"Watching {folders} folder(s) of {len(config.voices)} voice(s). Ctrl-C stops.")
    # Our own handlers, as the daemon has: a process started in the background inherits SIGINT ignored,
    # and Python then never raises KeyboardInterrupt, so Ctrl-C (or a service manager's SIGTERM) would
    # not stop it. The stop event lets the watcher finish its batch and close the store cleanly.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    with CorpusStore.open() as store:
        watch_forever(store, config, on_change=_change_printer(), stop=stop)
    click.echo("Stopped.")


def register(main: click.Group) -> None:
    for command in (corpus, scan, watch):
        main.add_command(command)
