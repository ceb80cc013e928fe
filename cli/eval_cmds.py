"""`voiced eval` (metrics and an HTML report) and `voiced arena` (blind A/B choices by the writer)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voiced.cli.errors import UserFacingError
from voiced.config import load_config
from voiced.private_files import write_private

if TYPE_CHECKING:
    from voiced.evaluation.arena import ArenaStore, Match
    from voiced.evaluation.run import EvalResult


def _format_table(labels: list[str], metrics: dict, nll: dict) -> str:
    from voiced.evaluation.passage_metrics import METRICS

    lines = ["metric".ljust(38) + "".join(label[:22].rjust(24) for label in labels)]
    rows = [
        (f"test NLL ({key})", {label: nll.get(label, {}).get(key) for label in labels})
        for key in ("nll", "perplexity")
        if nll
    ]
    rows += [(title, {label: metrics[label].get(name) for label in labels}) for name, (title, _b) in METRICS.items()]
    for title, values in rows:
        cells = "".join(("-" if v is None else f"{v:.3f}").rjust(24) for v in values.values())
        lines.append(title[:37].ljust(38) + cells)
    return "\n".join(lines)


def _format_metrics(result: EvalResult) -> str:
    """The table per target beside the anchors; per draft source too when there are several; then what
    the drafts were and whom attribution chose among."""
    parts = [_format_table(list(result.metrics), result.metrics, result.nll)]
    for source, metrics in result.by_source.items():
        parts.append(f"\n{source} drafts only:\n" + _format_table(list(metrics), metrics, {}))
    drafts = ", ".join(f"{count} {source}" for source, count in result.sources().items())
    parts.append(
        f"\nDrafts: {drafts} (made by processes training never uses). Attribution: the writer's "
        f"profile (train split) against {', '.join(result.references)}."
    )
    parts += [f"Note: {note}" for note in result.notes]
    return "\n".join(parts)


def register(main: click.Group) -> None:
    @main.command("eval")
    @click.option("--voice", default=None, help="Voice to evaluate (default: the only or default voice).")
    @click.option(
        "--adapter",
        "adapter",
        type=int,
        multiple=True,
        help="Evaluate this version beside the base; repeat for several "
        "(default: the active version and any candidates).",
    )
    @click.option("--n", "n", type=click.IntRange(min=1), default=None, help="Test passages to rewrite.")
    @click.option(
        "--html",
        "html_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write a single-file HTML report here.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
    @click.option("--no-nll", is_flag=True, help="Skip the test NLL (saves loading the model in torch).")
    def eval_command(voice, adapter, n, html_file, as_json, no_nll):
        """Rewrite held-out drafts and measure whether the rewrites move towards the writer and keep the meaning."""
        from voiced.evaluation.report import render_html
        from voiced.evaluation.run import run_eval
        from voiced.registry import RegistryError

        config = load_config()
        with click.progressbar(length=1, label="Rewriting test passages", file=sys.stderr) as bar:

            def progress(event: dict) -> None:
                bar.length = event["total"]
                bar.update(1)

            try:
                result = run_eval(config, voice, adapter=adapter, n=n, progress=progress, with_nll=not no_nll)
            except (ValueError, RegistryError) as exc:
                raise UserFacingError(str(exc)) from exc
        if html_file:
            write_private(html_file, render_html(result))
        if as_json:
            click.echo(json.dumps(result.to_dict(), indent=2))
        else:
            click.echo(_format_metrics(result))
            if html_file:
                click.echo(f"Report: {html_file}")

    @main.command("arena")
    @click.option("--voice", default=None, help="Voice to compare.")
    @click.option("--a", "left", default="base", show_default=True, help='"base" or a version number.')
    @click.option("--b", "right", default=None, help="A version number (default: the active version).")
    @click.option("--n", "n", type=click.IntRange(min=1), default=None, help="Passages to compare.")
    @click.option("--web", is_flag=True, help="Compare in a local web page instead of the terminal.")
    @click.option("--stats", is_flag=True, help="Only show win rates so far.")
    def arena_command(voice, left, right, n, web, stats):
        """Blind A/B: pick which of two rewrites sounds more like you."""
        from voiced.evaluation.arena import ArenaStore

        config = load_config()
        name = config.voice(voice).name
        store = ArenaStore.open()
        try:
            if not stats:
                matches = _matches(config, name, left, right, n)
                if web:
                    _web_arena(name, matches, store)
                else:
                    _terminal_arena(name, matches, store)
            _print_rates(store, name)
        finally:
            store.close()


def _matches(config, voice, left, right, n):
    from voiced.evaluation.run import arena_matches
    from voiced.registry import Registry, RegistryError

    try:
        if right is None:
            active = Registry.open(voice).active_version()
            if active is None:
                raise UserFacingError(
                    f"Voice {voice!r} has no active adapter to compare with the base. "
                    "Train one with `voiced train`, or name versions with --a and --b."
                )
            right = str(active)
        return arena_matches(config, voice, left, right, n=n)
    except (ValueError, RegistryError) as exc:
        raise UserFacingError(str(exc)) from exc


def _terminal_arena(voice: str, matches: Sequence[Match], store: ArenaStore) -> None:
    keys = {"a": "A", "b": "B", "t": "tie", "s": "skip", "q": "quit"}
    for index, match in enumerate(matches, 1):
        click.echo(f"\n--- {index}/{len(matches)} --- rough passage:\n{match.prompt}\n")
        click.echo(f"[A]\n{match.a_text}\n\n[B]\n{match.b_text}\n")
        answer = click.prompt(
            "Which sounds more like you? (a/b/t=tie/s=skip/q=quit)", type=click.Choice(list(keys), case_sensitive=False)
        ).lower()
        if keys[answer] == "quit":
            break
        store.record(voice, match, keys[answer], "terminal")


def _web_arena(voice: str, matches: Sequence[Match], store: ArenaStore) -> None:
    from voiced.evaluation.arena_web import ArenaServer

    server = ArenaServer(voice, matches, store)
    click.echo(f"Open {server.start()} (local only). Press Ctrl+C to stop.")
    try:
        while not server.finished:
            assert server.thread is not None  # start() made it
            server.thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _print_rates(store: ArenaStore, voice: str) -> None:
    rates = store.win_rates(voice)
    if not rates:
        click.echo("No choices recorded yet.")
        return
    for label, r in sorted(rates.items()):
        click.echo(
            f"{label}: win rate {r['rate']:.0%} (95% CI {r['low']:.0%}-{r['high']:.0%}), "
            f"{int(r['wins'])} wins, {int(r['losses'])} losses, {int(r['ties'])} ties"
        )
    click.echo(f"{len(store.preferences(voice))} preferences kept for preference training.")
