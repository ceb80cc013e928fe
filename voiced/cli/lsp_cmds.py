"""`voiced lsp`: the language server every editor starts."""

from __future__ import annotations

import click


@click.command()
@click.option("--port", type=int, help="Listen on this TCP port on 127.0.0.1 instead of speaking over stdio.")
@click.option("--stdio", is_flag=True, help="Speak over stdio (the default; accepted because many clients pass it).")
def lsp(port: int | None, stdio: bool) -> None:
    """Run the language server ("Rewrite in my voice" code actions) over stdio."""
    from voiced.lsp.logs import setup_logging
    from voiced.lsp.server import start_io, start_tcp

    setup_logging()
    if port is not None and stdio:
        raise click.UsageError("--port and --stdio exclude each other.")
    if port is not None:
        start_tcp(port)
    else:
        start_io()


def register(main: click.Group) -> None:
    main.add_command(lsp)
