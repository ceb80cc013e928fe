"""Training datasets: `voiced dataset build|show|export|view`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click

from voiced.cli.errors import UserFacingError
from voiced.config import load_config
from voiced.paths import get_paths
from voiced.trainer.dataset import (
    SPLITS,
    CorpusTooSmall,
    Dataset,
    DatasetMissing,
    build_voice_dataset,
    dataset_dir,
    export_chat,
    load_dataset,
)

_VOICE = click.option("--voice", help="The voice (default: the first configured).")
_HTML = click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a static HTML viewer of the examples to this file.",
)


def _load(voice: str | None) -> Dataset:
    name = load_config().voice(voice).name
    try:
        return load_dataset(dataset_dir(get_paths().data_dir, name), name)
    except DatasetMissing as exc:
        raise UserFacingError(str(exc)) from exc


def _write_viewer(dataset: Dataset, html_file: Path | None, splits: tuple[str, ...] = SPLITS) -> None:
    if html_file is None:
        return
    from voiced.trainer.viewer import write_html

    examples = [ex for split in splits for ex in dataset.examples[split]]
    write_html(html_file, examples, f"voiced dataset: {dataset.voice}", drafts=dataset.summary()["drafts"])
    click.echo(f"Viewer written to {html_file}")


@click.group()
def dataset() -> None:
    """Training examples built from a voice's prose (rewrite and continue pairs)."""


@dataset.command()
@_VOICE
@_HTML
def build(voice: str | None, html_file: Path | None) -> None:
    """Build the dataset from the corpus and save it under the data directory."""
    try:
        built, files = build_voice_dataset(load_config(), voice)
    except CorpusTooSmall as exc:
        raise UserFacingError(str(exc)) from exc
    summary = built.summary()
    click.echo(f"Voice {built.voice}: " + ", ".join(f"{n} {s}" for s, n in summary["examples"].items()) + " examples")
    click.echo("  tasks: " + ", ".join(f"{k} {v}" for k, v in summary["tasks"].items()))
    click.echo("  shapes: " + ", ".join(f"{k} {v}" for k, v in summary["shapes"].items()))
    from voiced.trainer.draft_report import describe

    for line in describe(summary["drafts"]):
        click.echo(f"  {line}")
    if summary["signature_words"]:
        click.echo(
            "  signature words (swapped for everyday ones where WordNet has one): "
            + ", ".join(summary["signature_words"][:12])
        )
    for note in built.notes:
        click.echo(f"  note: {note}")
    click.echo(f"Saved in {files[0].parent}")
    _write_viewer(built, html_file)


@dataset.command()
@_VOICE
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True)
@click.option("-n", "count", type=click.IntRange(min=0), default=5, show_default=True, help="How many examples.")
@_HTML
def show(voice: str | None, split: str, count: int, html_file: Path | None) -> None:
    """Print examples of one split readably."""
    built = _load(voice)
    for example in built.examples[split][:count]:
        click.secho(f"── {example.task} · {example.shape} · {example.document}", bold=True)
        label = "rough draft" if example.task == "rewrite" else "opening"
        click.secho(f"[{label}]", fg="yellow")
        click.echo(textwrap.indent(example.prompt_text, "  "))
        click.secho("[response]", fg="green")
        click.echo(textwrap.indent(example.response_text, "  "))
        click.echo()
    _write_viewer(built, html_file, (split,))


@dataset.command()
@_VOICE
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for train.jsonl, valid.jsonl and test.jsonl.",
)
@_HTML
def export(voice: str | None, out_dir: Path, html_file: Path | None) -> None:
    """Write the dataset as {"messages": [...]} JSON Lines (the format mlx-lm reads)."""
    built = _load(voice)
    for path in export_chat(built, out_dir):
        click.echo(f"Wrote {path}")
    _write_viewer(built, html_file)


@dataset.command()
@_VOICE
@click.argument("html_file", type=click.Path(dir_okay=False, path_type=Path))
def view(voice: str | None, html_file: Path) -> None:
    """Write a static HTML viewer (j/k to move, / to search)."""
    _write_viewer(_load(voice), html_file)


def register(main: click.Group) -> None:
    main.add_command(dataset)
