"""`voiced lsp --port`: loopback only, and a client must present the token from the user's private file."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from voiced.lsp.tcp_auth import token_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _send(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message).encode()
    sock.sendall(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def _receive(sock: socket.socket) -> dict:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    header, _, rest = data.partition(b"\r\n\r\n")
    length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(4096)
    return json.loads(rest[:length])


@pytest.fixture
def tcp_server():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "voiced", "lsp", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.1)
    yield process, sock, port
    sock.close()
    process.kill()
    process.wait(timeout=30)


def _initialize(options: dict | None) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": options}}


def test_without_the_token_initialize_is_refused_and_the_connection_closed(tcp_server):
    _process, sock, port = tcp_server
    record = json.loads(token_file().read_text())
    assert record["port"] == port and record["host"] == "127.0.0.1"
    assert stat.S_IMODE(token_file().stat().st_mode) == 0o600
    _send(sock, _initialize({"token": "guessed"}))
    reply = _receive(sock)
    assert "error" in reply and "initializationOptions.token" in reply["error"]["message"]
    sock.settimeout(10)
    assert sock.recv(4096) == b""  # closed


def test_with_the_token_the_server_answers(tcp_server):
    _process, sock, _port = tcp_server
    token = json.loads(token_file().read_text())["token"]
    _send(sock, _initialize({"token": token}))
    reply = _receive(sock)
    assert reply["result"]["serverInfo"]["name"] == "voiced"
    assert reply["result"]["capabilities"]["codeActionProvider"]["resolveProvider"] is True


def test_stdio_needs_no_token(tmp_path):
    """Over stdio only the editor that started the server can talk to it."""
    process = subprocess.Popen([sys.executable, "-m", "voiced", "lsp"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    body = json.dumps(_initialize(None)).encode()
    process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    process.stdin.flush()
    headers = {}
    while (line := process.stdout.readline().strip()):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers[b"content-length"])
    reply = json.loads(process.stdout.read(length))
    process.kill()
    process.wait(timeout=30)
    assert reply["result"]["serverInfo"]["name"] == "voiced"
