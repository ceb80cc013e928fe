"""`voiced lsp`: the language server every editor starts."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Listen on 127.0.0.1:PORT instead of stdio (0: any free port); each client must send "
    "the token from lsp-tcp.json and gets a server of its own.",
)
@click.option("--stdio", is_flag=True, help="Speak over stdio (the default; accepted because many clients pass it).")
def lsp(port: int | None, stdio: bool) -> None:
    """Run the language server ("Rewrite in my voice" code actions) over stdio."""
    from voiced.lsp.logs import setup_logging

    setup_logging()
    if port is not None and stdio:
        raise click.UsageError("--port and --stdio exclude each other.")
    if port is not None:
        from voiced.lsp.tcp_gate import run

        run(port)
    else:
        from voiced.lsp.server import start_io

        start_io()


def register(main: click.Group) -> None:
    main.add_command(lsp)
