"""`voiced lsp --port`: a gate on 127.0.0.1 that lets a connection reach a language server only after
an `initialize` carrying the user's token, and gives every connection a server of its own.

Why a gate in front instead of a check inside the server: pygls answers requests that arrive before
`initialize`, and serves every TCP connection with one protocol object. Here nothing reaches a language
server until the first frame has been read and checked, so a refused connection executes nothing,
whatever it sent after; and each accepted connection gets a fresh `voiced lsp --stdio` child (its own
state, documents and daemon client) that lives and dies with that connection alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass

from voiced.errors import VoicedError
from voiced.lsp.tcp_auth import publish_token, token_matches, withdraw_token

log = logging.getLogger("voiced.lsp.tcp")

HOST = "127.0.0.1"
MAX_HEADER_BYTES = 1024  # an LSP header is one or two short lines
MAX_FIRST_BODY_BYTES = 1 << 20  # a client's capabilities are tens of kilobytes at most
HANDSHAKE_SECONDS = 10.0  # a client that connects and says nothing is dropped
CHILD_EXIT_SECONDS = 2.0  # a child gets this long to exit after its client left, then is killed

NOT_INITIALIZED = -32002  # JSON-RPC codes of the LSP specification
INVALID_REQUEST = -32600
PARSE_ERROR = -32700
INTERNAL_ERROR = -32603

TOKEN_HELP = (
    "voiced lsp over TCP needs initializationOptions.token: read it from lsp-tcp.json in the voiced "
    "state directory (`voiced config path` shows where voiced keeps its files)"
)


class Refused(Exception):
    """The first frame does not open an authenticated session; ``reply`` says why (None: just close)."""

    def __init__(self, reason: str, reply: dict | None = None) -> None:
        super().__init__(reason)
        self.reply = reply


@dataclass
class FirstFrame:
    raw: bytes  # everything read so far: the frame and whatever followed it, forwarded as it came
    message: dict


def _error(request_id: int | str | None, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def content_length(header: bytes) -> int:
    """The Content-Length of an LSP header block (other headers are allowed and ignored)."""
    lengths = []
    for line in header.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise Refused("a header line without a colon", _error(None, PARSE_ERROR, "malformed LSP header"))
        if name.strip().lower() == b"content-length":
            lengths.append(value.strip())
    if len(lengths) != 1 or not lengths[0].isdigit():
        raise Refused("no single numeric Content-Length", _error(None, PARSE_ERROR, "malformed LSP header"))
    return int(lengths[0])


async def read_first_frame(reader: asyncio.StreamReader) -> FirstFrame:
    """Read one Content-Length frame, bounded in size; what followed it stays in ``raw``."""
    data = bytearray()
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_HEADER_BYTES:
            raise Refused("header too long", _error(None, PARSE_ERROR, "malformed LSP header"))
        chunk = await reader.read(4096)
        if not chunk:
            raise Refused("closed before a whole header")
        data += chunk
    if end > MAX_HEADER_BYTES:
        raise Refused("header too long", _error(None, PARSE_ERROR, "malformed LSP header"))
    length = content_length(bytes(data[:end]))
    if length > MAX_FIRST_BODY_BYTES:
        raise Refused(
            f"first message of {length} bytes",
            _error(None, INVALID_REQUEST, f"the first message is larger than {MAX_FIRST_BODY_BYTES} bytes"),
        )
    body_end = end + 4 + length
    while len(data) < body_end:
        chunk = await reader.read(body_end - len(data))
        if not chunk:
            raise Refused("closed inside the first message")
        data += chunk
    try:
        message = json.loads(bytes(data[end + 4 : body_end]))
    except (ValueError, UnicodeDecodeError):
        raise Refused("first message is not JSON", _error(None, PARSE_ERROR, "the message is not JSON")) from None
    if not isinstance(message, dict):
        raise Refused("first message is not an object", _error(None, INVALID_REQUEST, "not a JSON-RPC message"))
    return FirstFrame(bytes(data), message)


def check_initialize(message: dict, token: str) -> None:
    """Raise Refused unless ``message`` is an `initialize` request with the token."""
    request_id = message.get("id")
    if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
        request_id = None
    if message.get("method") != "initialize":
        reply = _error(request_id, NOT_INITIALIZED, f"the server is not initialized: {TOKEN_HELP}")
        raise Refused(f"{message.get('method')!r} before initialize", reply if request_id is not None else None)
    params = message.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    if request_id is None or not token_matches(options, token):
        raise Refused("initialize without the token", _error(request_id, INVALID_REQUEST, TOKEN_HELP))


class Gate:
    """Accepts connections, checks each one's first frame, and pairs each accepted one with its own server."""

    def __init__(self, token: str, server_command: list[str]) -> None:
        self.token = token
        self.server_command = server_command
        self.children: set[asyncio.subprocess.Process] = set()
        self.connections: dict[asyncio.Task, asyncio.StreamWriter] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio.start_server runs each connection's handler as a task
        self.connections[task] = writer
        try:
            try:
                first = await asyncio.wait_for(read_first_frame(reader), HANDSHAKE_SECONDS)
                check_initialize(first.message, self.token)
            except asyncio.TimeoutError:
                log.warning("dropped a TCP client that sent no initialize within %.0f s", HANDSHAKE_SECONDS)
                return
            except Refused as refused:
                log.error("refused a TCP client: %s", refused)
                await self._refuse(reader, writer, refused.reply)
                return
            await self._serve(first, reader, writer)
        except (ConnectionError, OSError) as exc:  # one client's broken connection is that client's
            log.info("a TCP client's connection broke: %s", exc)
        finally:
            writer.close()
            self.connections.pop(task, None)

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: dict | None) -> None:
        """Answer, then close for writing and discard what the client still sends: it is never executed.

        Discarding until the client closes (briefly) lets the answer arrive instead of a reset."""
        if reply is not None:
            writer.write(frame(reply))
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        try:
            await asyncio.wait_for(_discard(reader, MAX_FIRST_BODY_BYTES), 1.0)
        except asyncio.TimeoutError:
            pass

    async def _serve(self, first: FirstFrame, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            child = await asyncio.create_subprocess_exec(
                *self.server_command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            log.error("cannot start a language server for a TCP client: %s", exc)
            writer.write(
                frame(
                    _error(
                        first.message.get("id"), INTERNAL_ERROR, f"voiced could not start its language server: {exc}"
                    )
                )
            )
            await writer.drain()
            return
        self.children.add(child)
        log.info("a TCP client presented the token; its language server is pid %d", child.pid)
        try:
            assert child.stdin is not None and child.stdout is not None  # both were asked for as pipes
            child.stdin.write(first.raw)
            to_child = asyncio.ensure_future(_relay(reader, child.stdin, close_after=True))
            to_client = asyncio.ensure_future(_relay(child.stdout, writer))
            try:
                done, _ = await asyncio.wait({to_child, to_client}, return_when=asyncio.FIRST_COMPLETED)
                if to_client not in done:  # the client stopped sending: its server may still answer, then exit
                    await asyncio.wait({to_client}, timeout=CHILD_EXIT_SECONDS)
            finally:
                for task in (to_child, to_client):
                    task.cancel()
                await asyncio.gather(to_child, to_client, return_exceptions=True)
        finally:
            await self._end(child)

    async def _end(self, child: asyncio.subprocess.Process) -> None:
        """The client or its server left: close the server's input, then make sure it is gone."""
        try:
            if child.stdin is not None:
                child.stdin.close()
        except (OSError, RuntimeError):
            pass
        try:
            await asyncio.wait_for(child.wait(), CHILD_EXIT_SECONDS)
        except asyncio.TimeoutError:
            child.kill()
            await child.wait()
        except asyncio.CancelledError:
            child.kill()
            raise
        finally:
            self.children.discard(child)
        log.info("language server %d ended (%s)", child.pid, child.returncode)

    async def close(self) -> None:
        """Stop every session: kill the servers, hang up on the clients, let each handler finish."""
        for child in list(self.children):
            if child.returncode is None:
                child.kill()
        for writer in list(self.connections.values()):
            writer.close()
        if self.connections:
            await asyncio.wait(set(self.connections), timeout=CHILD_EXIT_SECONDS + 1)


async def _relay(source: asyncio.StreamReader, target: asyncio.StreamWriter, close_after: bool = False) -> None:
    """Copy bytes until ``source`` ends or ``target`` breaks; ``close_after``: then close ``target``."""
    try:
        while chunk := await source.read(65536):
            target.write(chunk)
            await target.drain()
    finally:
        if close_after:
            target.close()


async def _discard(reader: asyncio.StreamReader, limit: int) -> None:
    seen = 0
    while seen < limit and (chunk := await reader.read(65536)):
        seen += len(chunk)


def server_command() -> list[str]:
    """A fresh stdio language server: the same interpreter, so the same installation."""
    return [sys.executable, "-m", "voiced", "lsp", "--stdio"]


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:``port`` (0: any free port), publish the port and a fresh token, serve until stopped."""
    gate = Gate("", server_command())  # the token comes once the port is known
    try:
        listener = await asyncio.start_server(gate.handle, HOST, port, start_serving=False)
    except OSError as exc:
        raise VoicedError(
            f"voiced lsp cannot listen on {HOST}:{port}: {exc.strerror or exc}.",
            "Choose another port with --port, or --port 0 for any free one.",
        ) from None
    bound = listener.sockets[0].getsockname()[1]
    gate.token = publish_token(bound)  # before the first connection is accepted: never an empty token
    await listener.start_serving()
    log.info("listening on %s:%d; each client must send the token from lsp-tcp.json", HOST, bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            pass
    try:
        await stop.wait()
    finally:  # not `async with`: newer Pythons would wait there for every client to hang up
        listener.close()
        withdraw_token(os.getpid())
        await gate.close()


def run(port: int) -> None:
    asyncio.run(serve(port))
