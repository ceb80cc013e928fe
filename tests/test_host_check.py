"""DNS rebinding: the daemon's API and the arena page answer only requests addressed to a loopback name.

Served for real (uvicorn on a loopback socket, the arena's own HTTP server) and asked with raw `Host`
headers, as a browser on a rebound name would send them.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from voiced.config import Config, VoiceConfig
from voiced.daemon.api import DaemonContext, create_app
from voiced.evaluation.arena import ArenaStore, Match
from voiced.evaluation.arena_web import ArenaServer
from voiced.loopback import is_loopback_host
from voiced.paths import Paths

TOKEN = "host-check-token"
ALLOWED = [
    "localhost",
    "localhost:{port}",
    "LocalHost:{port}",
    "127.0.0.1",
    "127.0.0.1:{port}",
    "127.9.8.7:{port}",
    "[::1]",
    "[::1]:{port}",
]
REFUSED = [
    "evil.example",
    "evil.example:{port}",
    "localhost.evil.example:{port}",
    "127.0.0.1.nip.io:{port}",
    "0.0.0.0:{port}",
    "10.0.0.1:{port}",
    "[::2]:{port}",
    "[::1",
    "::1",
    "localhost:",
    "localhost:port",
    "localhost:{port}:1",
    "127.0.0.1 evil",
    "[::ffff:7f00:1]:{port}",
    "localhost:\u0661\u0662",
    "",
]


@pytest.mark.parametrize("host", ALLOWED)
def test_loopback_names_are_allowed(host):
    assert is_loopback_host(host.format(port=8080))


@pytest.mark.parametrize("host", REFUSED + [None])
def test_other_names_are_refused(host):
    assert not is_loopback_host(host.format(port=8080) if host is not None else None)


@pytest.fixture
def daemon_port(tmp_path: Path):
    """The daemon's FastAPI application served by uvicorn on 127.0.0.1 (no model: the check comes first)."""
    config = Config(voices={"me": VoiceConfig(name="me")})
    paths = Paths(tmp_path / "config", tmp_path / "data", tmp_path / "state", tmp_path / "cache")
    app = create_app(DaemonContext(config=config, token=TOKEN, engine_error="no model in this test", paths=paths))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=30)


def _request(
    port: int, path: str, hosts: list[str], token: str | None = TOKEN, version: str = "HTTP/1.1"
) -> tuple[int, bytes]:
    """One request with exactly these Host headers (none, one or several), over a raw loopback socket."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection._http_vsn_str = version
    connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    for host in hosts:
        connection.putheader("Host", host)
    if token is not None:
        connection.putheader("Authorization", f"Bearer {token}")
    connection.endheaders()
    response = connection.getresponse()
    status, body = response.status, response.read()
    connection.close()
    return status, body


def test_the_daemon_answers_loopback_names(daemon_port):
    for host in ALLOWED:
        status, body = _request(daemon_port, "/v1/status", [host.format(port=daemon_port)])
        assert status == 200 and json.loads(body)["voices"] == ["me"], host


def test_the_daemon_refuses_other_names_with_its_json_error(daemon_port):
    for host in [h for h in REFUSED if h.isascii()]:
        for path in ("/v1/status", "/openapi.json", "/v1/models"):
            status, body = _request(daemon_port, path, [host.format(port=daemon_port)])
            assert status == 421, (host, path, status, body)
            error = json.loads(body)["error"]
            assert error["code"] == "host_not_allowed" and error["type"] == "invalid_request_error"
            assert "loopback" in error["message"] and "127.0.0.1" in error["message"]
    # no Host at all (HTTP/1.0), and a loopback Host next to a foreign one
    assert _request(daemon_port, "/v1/status", [], version="HTTP/1.0")[0] == 421
    assert _request(daemon_port, "/v1/status", [f"127.0.0.1:{daemon_port}", "evil.example"])[0] in (400, 421)
    # the token is still required behind the check
    assert _request(daemon_port, "/v1/status", [f"127.0.0.1:{daemon_port}"], token="wrong")[0] == 401


@pytest.fixture
def arena(tmp_path: Path):
    store = ArenaStore(tmp_path / "arena.sqlite3")
    server = ArenaServer("default", [Match("rough", "base", "plain", "v2", "voiced")], store)
    url = server.start()
    yield server, url, store
    server.stop()


def _arena_get(server: ArenaServer, path: str, host: str | None = None) -> tuple[int, str]:
    port = server.httpd.server_address[1]
    status, body = _request(port, path, [host or f"127.0.0.1:{port}"], token=None)
    return status, body.decode()


def test_the_arena_refuses_a_non_ascii_token_without_crashing(arena):
    server, _url, store = arena
    for token in ("%C3%A9t%C3%A9", "%E6%BC%A2", "%FF%FE", "%ED%A0%80"):
        status, text = _arena_get(server, f"/?token={token}")
        assert status == 403 and "token" in text, token
    assert _arena_get(server, f"/?token={server.token}")[0] == 200
    assert store.count("default") == 0


def test_the_arena_refuses_other_names_even_with_the_token(arena):
    server, _url, _store = arena
    port = server.httpd.server_address[1]
    status, text = _arena_get(server, f"/?token={server.token}", host=f"evil.example:{port}")
    assert status == 421 and "loopback" in text
    assert _arena_get(server, f"/?token={server.token}", host=f"localhost:{port}")[0] == 200
