"""Run the daemon in the foreground: take the lock, load the model, serve the API on loopback.

Order matters for the clients polling ``daemon.json``: the lock is taken
first (a second daemon exits at once), the socket is bound and listening
before the record is written (a client that reads the record can connect),
and the record is removed on the way out (a crash leaves it behind, which
:func:`voiced.daemon.state.live_record` recognises as stale).
"""

from __future__ import annotations

import dataclasses
import logging
import logging.handlers
import os
import secrets
import signal
import socket
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from voiced import __version__
from voiced.config import Config, ConfigError, SchedulerSettings, load_config
from voiced.daemon.config_watch import ConfigWatch
from voiced.daemon.corpus_watch import start_corpus_watching
from voiced.daemon.scheduler import parse_time_of_day, start_scheduler
from voiced.daemon.state import (
    LOOPBACK_HOSTS,
    DaemonLock,
    DaemonRecord,
    log_path,
    remove_record,
    write_record,
)
from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths
from voiced.private_files import PrivateRotatingFileHandler

if TYPE_CHECKING:
    from voiced.daemon.api import DaemonContext
    from voiced.daemon.training import TrainingJobs
    from voiced.inference.engine import Engine

log = logging.getLogger("voiced.daemon")


class DaemonStartError(VoicedError):
    """The daemon cannot start; the message says why and what to do."""


def check_loopback(host: str) -> None:
    if host not in LOOPBACK_HOSTS:
        raise DaemonStartError(
            f"daemon.host is {host!r}, but the daemon only listens on this machine "
            f"({', '.join(LOOPBACK_HOSTS)}). Set daemon.host to 127.0.0.1 in the configuration."
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on loopback; port 0 lets the system choose a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so. Without it, Nagle's
    # algorithm holds each small write (a response body after its headers, a streamed piece) until
    # the client's delayed ACK, about 40 ms later.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
    except (OSError, OverflowError) as exc:  # OverflowError: a port past 65535 given by a caller, not the file
        sock.close()
        raise DaemonStartError(
            f"Cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}. "
            "Pick another daemon.port (0 to 65535), or 0 to let the system choose."
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def setup_logging(paths: Paths) -> None:
    """Log to state_dir/logs/daemon.log (0600), rotated, so `voiced daemon logs` can show it."""
    paths.ensure_private(paths.logs_dir)
    target = log_path(paths)
    handler = PrivateRotatingFileHandler(target, maxBytes=5_000_000, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def load_engine(config: Config) -> tuple[Engine | None, str | None]:
    """The engine, or None and the reason; a daemon without a model still answers status with the reason."""
    try:
        from voiced.inference.engine import Engine
    except ImportError as exc:  # llama-cpp-python missing or broken
        log.error("the inference engine cannot be imported: %s", exc)
        return None, f"the inference runtime cannot be imported ({exc})"
    from voiced.trainer.serving import rebuild_gguf

    return Engine(config, rebuild_gguf=rebuild_gguf), None


def preload_voices(engine: Engine, config: Config) -> threading.Thread:
    """Load each voice's model in the background, so status answers at once and the first rewrite is quick.

    A voice whose model fails to load is logged; its requests then get 503 with the engine's message.
    """

    def load_all() -> None:
        for voice in config.voices:
            try:
                engine.load(voice)
                log.info("voice %s: model loaded", voice)
            except Exception as exc:  # noqa: BLE001 - reported per request as 503
                log.error("voice %s: the model could not be loaded: %s", voice, exc)

    thread = threading.Thread(target=load_all, name="voiced-preload", daemon=True)
    thread.start()
    return thread


def run_daemon(paths: Paths | None = None, *, port: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT. Raises AlreadyRunning, DaemonStartError or ConfigError before serving."""
    from voiced.daemon.api import DaemonContext, create_app

    paths = paths or get_paths()
    config = load_config(paths)
    host = config.daemon.host
    check_loopback(host)
    lock = DaemonLock(paths)
    lock.acquire()
    try:
        setup_logging(paths)
        sock = bind_socket(host, config.daemon.port if port is None else port)
        bound_port = sock.getsockname()[1]
        log.info("voiced %s daemon starting (pid %d) on %s:%d", __version__, os.getpid(), host, bound_port)
        engine, engine_error = load_engine(config)
        if engine is not None:
            preload_voices(engine, config)
        ctx = DaemonContext(
            config=config,
            token=secrets.token_urlsafe(32),
            engine=engine,
            engine_error=engine_error,
            port=bound_port,
            paths=paths,
        )
        ctx.training = start_training_jobs(ctx)
        ctx.scheduler = start_scheduler(config, paths, ctx.training)
        ctx.corpus_watch = start_corpus_watching(config, paths)
        ctx.config_watch = follow_config(ctx)
        app = create_app(ctx)
        server = _Server(
            uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5, lifespan="off"), ctx
        )
        write_record(
            DaemonRecord(
                pid=os.getpid(),
                port=bound_port,
                host=host,
                token=ctx.token,
                started_at=ctx.started_at,
                version=__version__,
            ),
            paths,
        )
        log.info("listening on %s:%d", host, bound_port)
        # Uvicorn re-raises the stop signal after its graceful shutdown; with these handlers in
        # place that unwinds through the cleanup below and exits 0 instead of dying by the signal.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_after_shutdown)
        try:
            server.run(sockets=[sock])
        finally:
            if ctx.config_watch is not None:
                ctx.config_watch.stop()
            if ctx.scheduler is not None:
                ctx.scheduler.stop()
            if ctx.training is not None:
                ctx.training.shutdown()
            if ctx.corpus_watch is not None:
                ctx.corpus_watch.stop()
            if engine is not None:
                engine.close()
        log.info("stopped after %.0f s", time.time() - ctx.started_at)
        return 0
    finally:
        remove_record(paths, pid=os.getpid())
        lock.release()


def start_training_jobs(ctx: DaemonContext) -> TrainingJobs:
    """The training job manager; a promoted version is served at once (the engine re-reads the registry,
    and its backend picks the version's artifact for its runtime)."""
    from voiced.daemon.training import TrainingJobs

    engine = getattr(ctx, "engine", None)
    on_promoted = (lambda voice, _artifact: engine.refresh(voice)) if engine is not None else None
    return TrainingJobs(ctx.paths, on_promoted=on_promoted)


def follow_config(ctx: DaemonContext) -> ConfigWatch | None:
    """Apply changes to the config file while running: the voices (names, folders, system prompts, base
    models), the folders watched, the ``[inference]`` and ``[scheduler]`` settings and the request
    limits. A removed voice's model is let go; a voice whose base model, ``n_ctx`` or ``n_threads``
    changed loads its model anew on its next request. Host, port and body size wait for a restart."""

    def apply(config: Config) -> None:
        # The engine, the routes and the scheduler share ctx.config: replacing its sections is enough.
        ctx.config.voices = config.voices
        ctx.config.inference = config.inference
        if ctx.engine is not None:
            released = ctx.engine.release_stale()
            if released:
                log.info("models let go after the configuration changed: %s", ", ".join(released))
        ctx.config.daemon = dataclasses.replace(
            ctx.config.daemon, max_tokens=config.daemon.max_tokens, max_text_chars=config.daemon.max_text_chars
        )
        if ctx.corpus_watch is not None:
            ctx.corpus_watch.reconfigure(config)
        follow_schedule(ctx, config.scheduler)

    watch = ConfigWatch(ctx.paths, ctx.config, apply)
    try:
        watch.start()
    except OSError as exc:  # e.g. out of inotify watches: the daemon still serves, a restart applies changes
        log.error("cannot follow changes to the configuration file: %s", exc)
        return None
    return watch


def follow_schedule(ctx: DaemonContext, settings: SchedulerSettings) -> None:
    """A changed ``[scheduler]`` section: the running scheduler adopts it (switched off, it starts
    nothing); one switched on while none runs is started. A bad time of day is logged and ignored."""
    try:
        if ctx.scheduler is not None:
            ctx.scheduler.reconfigure(settings)
        elif settings.enabled:
            parse_time_of_day(settings.nightly_at)  # before anything is stored
            ctx.config.scheduler = settings
            ctx.scheduler = start_scheduler(ctx.config, ctx.paths, ctx.training, from_now=True)
    except ConfigError as exc:
        log.error("scheduler settings not applied: %s", exc)


def _exit_after_shutdown(sig: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class _Server(uvicorn.Server):
    """Uvicorn's server, which also cancels every generation when asked to exit."""

    def __init__(self, config: uvicorn.Config, ctx: DaemonContext) -> None:
        super().__init__(config)
        self.ctx = ctx

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", sig)
        self.ctx.inflight.cancel_all()
        super().handle_exit(sig, frame)
