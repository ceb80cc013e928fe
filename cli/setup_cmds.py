"""Setting up: `voiced init`, `add`, `remove`, `voices`, `config`, `doctor`."""

from __future__ import annotations

import click

from voiced import voices as voices_lib
from voiced.config import load_config, settings_defaults
from voiced.paths import get_paths


@click.command()
@click.option("--voice", default=voices_lib.DEFAULT_VOICE, show_default=True, help="Name of the first voice.")
def init(voice: str) -> None:
    """Create the configuration file (never overwrites an existing one)."""
    path, created = voices_lib.init_config(voice=voice)
    if created:
        click.echo(f"Created {path} with the voice {voice!r}.")
        click.echo("Next: `voiced add FOLDER` for each folder you write in, then `voiced scan`.")
    else:
        click.echo(f"{path} exists already; nothing changed.")


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=str))
@click.option("--voice", help="Voice to add the folder to (default: the first voice).")
def add(folder: str, voice: str | None) -> None:
    """Add a writing FOLDER to a voice."""
    chosen, path = voices_lib.add_folder(folder, voice)
    click.echo(
        f"Added {path} to the voice {chosen.name!r}. A running daemon reads it now; otherwise run `voiced scan`."
    )


@click.command()
@click.argument("folder", type=click.Path(path_type=str))
def remove(folder: str) -> None:
    """Stop learning from FOLDER (its passages leave the corpus at the next scan)."""
    voice, path = voices_lib.remove_folder(folder)
    click.echo(
        f"Removed {path} from the voice {voice.name!r}. A running daemon updates the corpus now; "
        "otherwise run `voiced scan`."
    )


@click.group(invoke_without_command=True)
@click.pass_context
def voices(ctx: click.Context) -> None:
    """List voices and their folders, or create one."""
    if ctx.invoked_subcommand is not None:
        return
    config = load_config()
    for voice in config.voices.values():
        click.secho(voice.name, bold=True)
        click.echo(f"  base model: {voice.base_model}")
        click.echo(f"  system prompt: {voice.system_prompt}")
        if voice.folders:
            for folder in voice.folders:
                click.echo(f"  folder: {folder}")
        else:
            click.echo("  no folders yet: `voiced add FOLDER --voice " + voice.name + "`")
        for pattern in voice.include:
            click.echo(f"  include: {pattern}")
        for pattern in voice.exclude:
            click.echo(f"  exclude: {pattern}")


@voices.command("create")
@click.argument("name")
@click.option("--system-prompt", help="Describe the voice; used in every training example and request.")
@click.option(
    "--base-model",
    help="Base model: a GGUF file, a local Hugging Face folder, a hub id, or a name `voiced models` lists.",
)
def voices_create(name: str, system_prompt: str | None, base_model: str | None) -> None:
    """Create the voice NAME."""
    voices_lib.create_voice(name, system_prompt=system_prompt, base_model=base_model)
    click.echo(f"Created the voice {name!r}. Add folders with `voiced add FOLDER --voice {name}`.")


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("path")
def config_path() -> None:
    """Print where the configuration file lives."""
    click.echo(get_paths().config_file)


@config.command("defaults")
def config_defaults() -> None:
    """List every setting with its default and meaning."""
    for section, rows in settings_defaults().items():
        click.secho(f"[{section}]", bold=True)
        for name, default, help_text in rows:
            click.echo(f"  {name} = {default!r}")
            click.echo(f"      {help_text}")


@click.command()
@click.option(
    "--measure",
    is_flag=True,
    help="Also measure training and decoding here (a minute or so) and say which model sizes this machine can "
    "train nightly and serve at reading speed.",
)
def doctor(measure: bool) -> None:
    """Check the install: configuration, embedded model, llama.cpp, torch.

    With --measure, also which model sizes this machine can train nightly and serve at reading speed.
    """
    from voiced.cli.doctor import capacity_lines, measure_capacity, platform_summary, run_checks

    click.echo(platform_summary())
    failed = 0
    for check in run_checks():
        mark = click.style("ok", fg="green") if check.ok else click.style("FAIL", fg="red")
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            failed += 1
            if check.fix:
                click.echo(f"       fix: {check.fix}")
    if measure:
        for line in capacity_lines(measure_capacity(lambda line: click.echo(f"{line} ..."))):
            click.echo(line)
    if failed:
        raise SystemExit(1)


def register(main: click.Group) -> None:
    for command in (init, add, remove, voices, config, doctor):
        main.add_command(command)
