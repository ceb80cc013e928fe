"""The `voiced` command line: parses options, calls the library, formats results.

Each command group lives in its own module and is registered here, one line each.
No extraction, SQL or training happens in this package.
"""

from __future__ import annotations

import click

from voiced import __version__
from voiced.cli.errors import VoicedGroup


@click.group(cls=VoicedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voiced")
def main() -> None:
    """Learn your writing voice from your own prose and rewrite text in it.

    Everything runs on this machine. Start with `voiced init`, then
    `voiced add FOLDER` for each folder you write in.
    """


# One module per command group; each exposes `register(main)`.
COMMAND_MODULES = [
    "setup_cmds",
    "corpus_cmds",
    "dataset_cmds",
    "lsp_cmds",
    "daemon_cmds",
    "rewrite_cmds",
    "adapters_cmds",
    "train_cmds",
    "eval_cmds",
    "status_cmds",
    "feedback_cmds",
    "models_cmds",
]


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"voiced.cli.{name}").register(main)


_register()
