"""The background daemon: `voiced daemon start|stop|restart|status|logs|run`."""

from __future__ import annotations

import json
import sys

import click

from voiced.cli.errors import UserFacingError


def _start_timeout() -> float:
    from voiced.config import load_config

    return load_config().daemon.start_timeout_seconds


def _stop_timeout() -> float:
    from voiced.config import load_config, ConfigError

    try:
        return load_config().daemon.stop_timeout_seconds
    except ConfigError:
        from voiced.config import DaemonSettings

        return DaemonSettings().stop_timeout_seconds


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@click.group()
def daemon() -> None:
    """The background process that holds the model and serves editors."""


@daemon.command()
@click.option("--port", type=int, help="Listen on this port instead of daemon.port (0: any free port).")
def run(port: int | None) -> None:
    """Run the daemon in the foreground until interrupted."""
    from voiced.daemon.server import DaemonStartError, run_daemon
    from voiced.daemon.state import AlreadyRunning

    try:
        code = run_daemon(port=port)
    except (AlreadyRunning, DaemonStartError) as exc:
        raise UserFacingError(str(exc)) from exc
    sys.exit(code)


@daemon.command()
def start() -> None:
    """Start the daemon in the background (nothing to do if it runs)."""
    from voiced.daemon.process import DaemonProcessError, start_daemon

    try:
        record, started = start_daemon(timeout=_start_timeout())
    except DaemonProcessError as exc:
        raise UserFacingError(str(exc)) from exc
    verb = "started" if started else "already running"
    click.echo(f"voiced daemon {verb}: pid {record.pid}, port {record.port}")


@daemon.command()
def stop() -> None:
    """Stop the daemon (SIGTERM, then SIGKILL after daemon.stop_timeout_seconds)."""
    from voiced.daemon.process import DaemonProcessError, stop_daemon

    try:
        record = stop_daemon(timeout=_stop_timeout())
    except DaemonProcessError as exc:
        raise UserFacingError(str(exc)) from exc
    click.echo(f"voiced daemon stopped (pid {record.pid})" if record else "voiced daemon is not running")


@daemon.command()
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop the daemon if it runs, then start it."""
    ctx.invoke(stop)
    ctx.invoke(start)


@daemon.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Whether the daemon runs, its pid, port and uptime."""
    from voiced.daemon.process import daemon_status

    state = daemon_status()
    if as_json:
        out = {"running": state.running, "uptime_seconds": state.uptime_seconds, "details": state.details}
        if state.record:
            out.update(pid=state.record.pid, port=state.record.port)
        click.echo(json.dumps(out, indent=2))
    elif not state.running:
        note = " (removed the record a crashed daemon left behind)" if state.stale_record_removed else ""
        click.echo(f"voiced daemon is not running{note}. Start it with `voiced daemon start`.")
    else:
        record = state.record
        click.echo(f"voiced daemon running: pid {record.pid}, port {record.port}, "
                   f"up {_duration(state.uptime_seconds or 0)}")
        if state.details:
            if state.details.get("engine_error"):
                click.echo(f"  model unavailable: {state.details['engine_error']}")
            click.echo(f"  voices: {', '.join(state.details.get('voices', [])) or 'none'}; "
                       f"requests in flight: {state.details.get('requests_in_flight', 0)}")
        else:
            click.echo("  (it did not answer /v1/status: it may be loading the model)")


@daemon.command()
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until interrupted.")
def logs(lines: int, follow: bool) -> None:
    """Show the end of the daemon's log file."""
    from voiced.daemon.process import follow_log, log_tail
    from voiced.daemon.state import log_path

    path = log_path()
    tail = log_tail(lines=lines)
    if not tail and not follow:
        click.echo(f"No daemon log yet ({path}).")
    for line in tail:
        click.echo(line)
    if follow:
        try:
            for line in follow_log(path):
                click.echo(line)
        except KeyboardInterrupt:
            pass


def register(main: click.Group) -> None:
    main.add_command(daemon)
