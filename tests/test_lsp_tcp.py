"""`voiced lsp --port` with a raw socket client, as a hostile local process would use it.

Loopback only; nothing but an `initialize` carrying the token from the user's private file is
processed on a connection; whatever a refused client sent after it is never executed; every
connection has a server of its own, so clients never see each other's answers and one that drops
affects no other. The server is the real process (`voiced lsp --port 0`) in front of the module's
real daemon, so a command that slipped through would show in the daemon and the registry.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import sys
import time

import pytest
from job_support import fake_adapter
from lsp_support import PARAGRAPH

from voiced.daemon.client import DaemonClient
from voiced.lsp.tcp_auth import token_file
from voiced.registry import Registry

# Every test talks to the module's daemon (conftest's daemon_home), through the VOICED_HOME it sets.
pytestmark = pytest.mark.usefixtures("daemon_home")

CAPABILITIES = {
    "textDocument": {
        "codeAction": {
            "dataSupport": True,
            "resolveSupport": {"properties": ["edit"]},
            "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["refactor.rewrite"]}},
        }
    }
}


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


class RawClient:
    """A socket speaking LSP frames by hand: it sends what it is told and records everything it gets."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""
        self.received: list[dict] = []

    def send(self, *messages: dict) -> None:
        """All in one write: the server sees them pipelined."""
        self.sock.sendall(b"".join(frame(m) for m in messages))

    def next(self) -> dict | None:
        """The next message, or None when the server closed the connection."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                return None
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            if not self._fill():
                return None
            header, _, rest = self.buffer.partition(b"\r\n\r\n")
        self.buffer = rest[length:]
        message = json.loads(rest[:length])
        self.received.append(message)
        return message

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def response(self, request_id: int) -> dict:
        """Read until the answer to ``request_id``; requests from the server get an empty answer."""
        while (message := self.next()) is not None:
            if "method" in message and "id" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif message.get("id") == request_id:
                return message
        raise AssertionError(f"the connection closed before the answer to {request_id}; got {self.received}")

    def rest_until_closed(self) -> list[dict]:
        """Everything the server still sends, up to its closing the connection."""
        before = len(self.received)
        while self.next() is not None:
            pass
        return self.received[before:]

    def initialize(self, token) -> dict:
        self.send(initialize(token))
        return self.response(1)

    def drop(self) -> None:
        """Vanish mid-session: half a frame, then a reset instead of an orderly close."""
        self.sock.sendall(b'Content-Length: 500\r\n\r\n{"jsonrpc"')
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def initialize(token, request_id: int = 1) -> dict:
    options = {"token": token} if token is not None else None
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {"processId": None, "rootUri": None, "capabilities": CAPABILITIES, "initializationOptions": options},
    }


def command(request_id: int, name: str, *arguments) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "workspace/executeCommand",
        "params": {"command": name, "arguments": list(arguments)},
    }


def did_open(uri: str, text: str) -> dict:
    return {
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": text}},
    }


def code_action(request_id: int, uri: str) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "textDocument/codeAction",
        "params": {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []},
        },
    }


def session(port: int, token: str) -> RawClient:
    client = RawClient(port)
    reply = client.initialize(token)
    assert reply["result"]["serverInfo"]["name"] == "voiced", reply
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    return client


@pytest.fixture
def tcp_server(daemon_home, tmp_path):
    """`voiced lsp --port 0`; the port, pid and token come from lsp-tcp.json once it names this process."""
    log = (tmp_path / "lsp-tcp.stderr").open("wb")  # a file, not a pipe: the servers' logs never block them
    process = subprocess.Popen(
        [sys.executable, "-m", "voiced", "lsp", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            record = json.loads(token_file().read_text())
            if record["pid"] == process.pid:
                break
        except (OSError, ValueError):
            pass
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "lsp-tcp.stderr").read_text()
        time.sleep(0.05)
    yield process, record
    process.terminate()
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
        log.close()


@pytest.fixture
def registry(tmp_path):
    """The voice "mine" with v1 active and a finished v2 that a command could switch to."""
    registry = Registry.open("mine")
    while len(registry.versions()) < 2:
        version = registry.begin_version({"corpus": {"words": 1000}})
        registry.finish_version(version, fake_adapter(tmp_path / f"a{version.number}"), None, {"status": "candidate"})
    registry.activate(1)
    return registry


def _training() -> dict:
    with DaemonClient.connect(start_if_needed=False) as daemon:
        return daemon.train_progress()


def _non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_token_file_is_private_and_names_the_listener(tcp_server):
    process, record = tcp_server
    assert record["host"] == "127.0.0.1" and record["pid"] == process.pid and record["port"] > 0
    assert stat.S_IMODE(token_file().stat().st_mode) == 0o600
    external = _non_loopback_address()
    if external is not None:  # loopback only
        with pytest.raises(OSError):
            socket.create_connection((external, record["port"]), timeout=2).close()


def _nothing_changes(registry: Registry, training: dict, seconds: float = 3.0) -> None:
    """A negative, so it is watched for a while: a command that slipped through acts within this time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert registry.active_version() == 1, "a refused client switched the active adapter"
        assert _training() == training, "a refused client started a training run"
        time.sleep(0.2)


def _commands_that_would_act(notes) -> list[dict]:
    """What an intruder pipelines: switch the adapter, start training, open a document and ask for actions."""
    uri = (notes / "intruder.md").as_uri()
    return [
        command(2, "voiced.activate", {"voice": "mine", "version": 2}),
        command(3, "voiced.train", {"voice": "mine"}),
        did_open(uri, PARAGRAPH + "\n"),
        code_action(4, uri),
    ]


def test_requests_before_initialize_are_not_executed(tcp_server, registry, daemon_home):
    _process, record = tcp_server
    before = _training()
    client = RawClient(record["port"])
    client.send(command(1, "voiced.status"), *_commands_that_would_act(daemon_home[1]))
    reply = client.next()
    assert reply is not None and reply["id"] == 1 and "result" not in reply, reply  # no daemon status leaks
    assert reply["error"]["code"] == -32002 and "initializationOptions.token" in reply["error"]["message"]
    assert client.rest_until_closed() == []  # nothing else answered, and the connection is closed
    _nothing_changes(registry, before)


@pytest.mark.parametrize("token", ["guessed", "jeton-\u00e9t\u00e9-\u6f22\u5b57", "\ud800", 42, None])
def test_initialize_without_the_token_is_refused_and_what_follows_is_not_executed(
    tcp_server, registry, daemon_home, token
):
    _process, record = tcp_server
    before = _training()
    client = RawClient(record["port"])
    client.send(
        initialize(token),
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        *_commands_that_would_act(daemon_home[1]),
    )
    reply = client.next()
    assert reply is not None and reply["id"] == 1 and "result" not in reply, reply
    assert "initializationOptions.token" in reply["error"]["message"]
    assert client.rest_until_closed() == []
    _nothing_changes(registry, before)


def test_two_clients_each_get_only_their_own_answers(tcp_server, daemon_home):
    _process, record = tcp_server
    notes = daemon_home[1]
    first, second = session(record["port"], record["token"]), session(record["port"], record["token"])
    uris = [(notes / "first.md").as_uri(), (notes / "second.md").as_uri()]
    for client, uri in zip((first, second), uris, strict=False):
        client.send(did_open(uri, PARAGRAPH + "\n"), code_action(2, uri))  # the same request id on both
    for client, uri, other in ((first, *uris), (second, *reversed(uris))):
        actions = client.response(2)["result"]
        assert actions and all(action["data"]["uri"] == uri for action in actions), actions
        assert other not in json.dumps(client.received)
    first.close()
    second.close()


def test_a_client_that_drops_leaves_the_others_and_the_listener_working(tcp_server, daemon_home):
    process, record = tcp_server
    uri = (daemon_home[1] / "kept.md").as_uri()
    leaving, staying = session(record["port"], record["token"]), session(record["port"], record["token"])
    leaving.send(did_open((daemon_home[1] / "gone.md").as_uri(), PARAGRAPH + "\n"))
    leaving.drop()
    silent = RawClient(record["port"])  # connected, says nothing: waits at the gate, blocks no one
    staying.send(did_open(uri, PARAGRAPH + "\n"), code_action(2, uri))
    assert staying.response(2)["result"][0]["data"]["uri"] == uri
    newcomer = session(record["port"], record["token"])
    newcomer.send(did_open(uri, PARAGRAPH + "\n"), code_action(2, uri))
    assert newcomer.response(2)["result"][0]["data"]["uri"] == uri
    assert process.poll() is None
    started = time.monotonic()
    assert silent.rest_until_closed() == []  # dropped after the handshake time
    assert time.monotonic() - started < 20
    staying.send(code_action(3, uri))
    assert staying.response(3)["result"]
    for client in (staying, newcomer):
        client.close()


def test_a_malformed_or_oversized_first_frame_is_refused(tcp_server):
    _process, record = tcp_server
    huge = RawClient(record["port"])
    huge.sock.sendall(b"Content-Length: 99999999999\r\n\r\n")
    assert huge.next()["error"]["code"] == -32600 and huge.rest_until_closed() == []
    garbage = RawClient(record["port"])
    garbage.sock.sendall(b"X" * 5000)
    assert garbage.next()["error"]["code"] == -32700 and garbage.rest_until_closed() == []
    not_json = RawClient(record["port"])
    not_json.sock.sendall(b"Content-Length: 5\r\n\r\nhello")
    assert not_json.next()["error"]["code"] == -32700 and not_json.rest_until_closed() == []
    session(record["port"], record["token"]).close()  # the listener is unharmed


def test_stdio_needs_no_token(tmp_path):
    """Over stdio only the editor that started the server can talk to it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "voiced", "lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    process.stdin.write(frame(initialize(None)))
    process.stdin.flush()
    headers = {}
    while line := process.stdout.readline().strip():
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers[b"content-length"])
    reply = json.loads(process.stdout.read(length))
    process.kill()
    process.wait(timeout=30)
    assert reply["result"]["serverInfo"]["name"] == "voiced"


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "voiced", "lsp", "--port", str(port)],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=60,
        )
    assert result.returncode == 1 and "cannot listen on 127.0.0.1" in result.stderr
    assert "--port 0" in result.stderr and "Traceback" not in result.stderr
