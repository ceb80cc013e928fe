"""Base models: `voiced models` lists those on this machine, `models use` sets a voice's, `models pull` fetches one."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click

from voiced.config import load_config

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from voiced.trainer.model_support import ModelReport


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: one object per model.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the models on this machine that can be a voice's base.

    Searched: Ollama's store, LM Studio's models folder, the Hugging Face
    cache and the folders in `[models] folders`. Each model shows its
    architecture, parameters, quantisation, size, whether it has a chat
    template, and whether voiced can train it and serve the result (and why
    not). The NAME column is what `voiced models use` takes.
    """
    if ctx.invoked_subcommand is not None:
        return
    from voiced.model_stores import search_places
    from voiced.trainer.model_support import list_models

    folders = load_config(required=False).models.folders
    reports = list_models(folders)
    if as_json:
        click.echo(json.dumps([report.to_dict() for report in reports], indent=2))
        return
    _table(reports)
    click.echo("")
    click.echo("Searched: " + "; ".join(f"{source} {place}" for source, place in search_places(folders)))
    click.echo("Make one a voice's base with `voiced models use NAME --voice VOICE`.")


def _table(reports: list[ModelReport]) -> None:
    header = ("NAME", "ARCH", "PARAMS", "QUANT", "SIZE", "CHAT", "TRAIN", "SERVE")
    rows = [
        (
            report.model.name,
            report.model.architecture or "?",
            _count(report.model.parameters),
            report.model.quantization or "?",
            _bytes(report.model.size_bytes),
            "yes" if report.model.chat_template else "no",
            "yes" if report.verdict.can_train else "no",
            f"yes ({report.verdict.runtime})" if report.verdict.can_serve else "no",
        )
        for report in reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    click.secho("  ".join(text.ljust(width) for text, width in zip(header, widths, strict=True)).rstrip(), bold=True)
    for report, row in zip(reports, rows, strict=True):
        click.echo("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip())
        verdict = report.verdict
        if verdict.train_reason and verdict.train_reason == verdict.serve_reason:
            click.echo(f"    not usable: {verdict.train_reason}")
            continue
        if verdict.train_reason:
            click.echo(f"    cannot train: {verdict.train_reason}")
        if verdict.serve_reason:
            click.echo(f"    cannot serve: {verdict.serve_reason}")


def _count(parameters: int | None) -> str:
    if not parameters:
        return "?"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if parameters >= scale:
            return f"{parameters / scale:.3g}{suffix}"
    return str(parameters)


def _bytes(size: int) -> str:
    for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= scale:
            return f"{size / scale:.1f} {suffix}"
    return f"{size} B"


@models.command("use")
@click.argument("name")
@click.option("--voice", help="The voice whose base it becomes (default: the first voice).")
def use(name: str, voice: str | None) -> None:
    """Make the model NAME (as `voiced models` prints it) a voice's base model."""
    from voiced.trainer.model_support import use_model

    change, report = use_model(name, voice)
    if change.previous == change.base_model:
        click.echo(f"The voice {change.voice!r} already uses {name}; nothing changed.")
        return
    click.echo(
        f"The voice {change.voice!r} now has the base model {name} ({change.location}); it was {change.previous}."
    )
    click.echo("The next training run (`voiced train`, or the daemon's nightly run) trains on it.")
    if report is not None and not report.verdict.can_serve:
        click.secho(f"Warning: the trained adapter cannot be served: {report.verdict.serve_reason}.", fg="yellow")
    for number, base, active in change.other_bases:
        which = "the active adapter" if active else "adapter"
        click.secho(
            f"Warning: {which} v{number} was trained on {base}, not on {name}; it does not fit the new base. "
            "Train the voice again before rewriting with it.",
            fg="yellow",
        )


@models.command("pull")
@click.argument("repo_id")
@click.option("--revision", default="main", show_default=True, help="Branch, tag or commit to download.")
def pull(repo_id: str, revision: str) -> None:
    """Download the Hugging Face model REPO_ID (config, tokenizer, safetensors) into the Hugging Face cache."""
    from voiced.model_pull import pull_model

    with ExitStack() as stack:
        folder = pull_model(repo_id, revision=revision, progress=_PullProgress(stack, repo_id))
    click.echo(f"Downloaded {repo_id} ({revision}) to {folder}.")
    name = f"hf:{repo_id}" + ("" if revision == "main" else f"@{revision}")
    click.echo(f"Make it a voice's base with `voiced models use {name} --voice VOICE`.")


class _PullProgress:
    """Feeds ``pull_model``'s progress (bytes over all the files) to one bar on stderr that names the file."""

    def __init__(self, stack: ExitStack, repo_id: str) -> None:
        self.stack, self.repo_id, self.shown = stack, repo_id, 0
        self.bar: ProgressBar[int] | None = None

    def __call__(self, event: dict) -> None:
        bar = self.bar
        if bar is None:
            bar = self.bar = self.stack.enter_context(
                click.progressbar(length=max(int(event["total_bytes"]), 1), label=self.repo_id, file=sys.stderr)
            )
        bar.label = f"{self.repo_id} {event['file']}"
        done = int(event["done_bytes"])
        bar.update(done - self.shown)
        self.shown = done


def register(main: click.Group) -> None:
    main.add_command(models)
