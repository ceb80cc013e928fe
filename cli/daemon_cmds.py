"""The background daemon: `voiced daemon start|stop|restart|status|logs|run`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voiced.cli.errors import UserFacingError
from voiced.cli.options import setting_type
from voiced.config import DaemonSettings


def _start_timeout() -> float:
    """Read strictly: a broken config file is reported here, before a daemon is started that would refuse it."""
    from voiced.config import load_config

    return load_config().daemon.start_timeout_seconds


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@click.group()
def daemon() -> None:
    """The background process that holds the model and serves editors."""


@daemon.command()
@click.option(
    "--port",
    type=setting_type(DaemonSettings, "port"),
    help="Listen on this port instead of daemon.port (0: any free port).",
)
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
        record = stop_daemon()  # waits [daemon] stop_timeout_seconds, also while the config file is broken
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
        assert record is not None  # a running daemon's status carries its record
        click.echo(
            f"voiced daemon running: pid {record.pid}, port {record.port}, up {_duration(state.uptime_seconds or 0)}"
        )
        if state.details:
            if state.details.get("engine_error"):
                click.echo(f"  model unavailable: {state.details['engine_error']}")
            click.echo(
                f"  voices: {', '.join(state.details.get('voices', [])) or 'none'}; "
                f"requests in flight: {state.details.get('requests_in_flight', 0)}"
            )
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


def _run_or_print(commands: list[list[str]], activate: bool) -> None:
    import shutil
    import subprocess

    if activate and shutil.which(commands[0][0]):
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise UserFacingError(f"`{' '.join(command)}` failed: {done.stderr.strip()}")
        click.echo("Done: " + "; ".join(" ".join(c) for c in commands))
    else:
        click.echo("Run these to (de)activate it:")
        for command in commands:
            click.echo("  " + " ".join(command))


_DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the unit/agent (default: ~/.config/systemd/user or ~/Library/LaunchAgents).",
)
_ACTIVATE_OPTION = click.option(
    "--activate/--no-activate", default=True, help="Run systemctl/launchctl (else print the commands)."
)


@daemon.command()
@_DIR_OPTION
@_ACTIVATE_OPTION
def install(directory: Path | None, activate: bool) -> None:
    """Start the daemon at login (systemd user unit on Linux, launchd agent on macOS)."""
    from voiced.daemon.service import activation_commands, default_service_dir, voiced_executable, write_service
    from voiced.paths import get_paths

    target = write_service(directory or default_service_dir(), voiced_executable(), get_paths().logs_dir)
    click.echo(f"Wrote {target}")
    _run_or_print(activation_commands(target), activate)


@daemon.command()
@_DIR_OPTION
@_ACTIVATE_OPTION
def uninstall(directory: Path | None, activate: bool) -> None:
    """Stop starting the daemon at login and remove the unit/agent."""
    from voiced.daemon.service import activation_commands, default_service_dir, remove_service, service_file

    folder = directory or default_service_dir()
    target = service_file(folder)
    if not target.exists():
        click.echo(f"Nothing to remove: {target} does not exist.")
        return
    _run_or_print(activation_commands(target, install=False), activate)
    remove_service(folder)
    click.echo(f"Removed {target}")


def register(main: click.Group) -> None:
    main.add_command(daemon)
