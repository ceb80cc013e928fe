"""The language server as a long-lived client of the daemon: a daemon killed and
started again (on a new port, or on the same port with a new token) is followed
without restarting the server, and cancellation costs nothing for requests that
finished. Real daemon with the embedded model, real LSP server (pytest-lsp)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_lsp
from job_support import fake_adapter
from lsp_support import DOC, LONG_DOC, PARAGRAPH
from lsprotocol import types
from process_support import kill9, run_voiced, wait_for_async
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced.config import load_config, save_config
from voiced.daemon.client import DaemonClient
from voiced.daemon.state import read_record, write_record
from voiced.paths import get_paths


@pytest.fixture(scope="module")
def daemon_settings():
    """One VOICED_HOME (config, registry, daemon: conftest's daemon_home) for the module, kept quiet."""

    def settings(config):
        config.scheduler.enabled = False
        config.daemon.watch_folders = False
        config.inference.guard = False  # one generation per paragraph: these tests are about the connection

    return settings


@pytest.fixture(autouse=True)
def daemon_running(daemon_home, voiced_home):
    """Every test sees the module's daemon (conftest points voiced_home at it), running: a test may have killed it."""
    run_voiced("daemon", "start")
    return voiced_home


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]))
async def client(lsp_client: LanguageClient, daemon_home, daemon_running):
    lsp_client.applied = []
    await lsp_client.initialize_session(types.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    lsp_client.uri = (daemon_home[1] / "chapter.md").as_uri()
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=lsp_client.uri, language_id="markdown", version=1, text=DOC)
        )
    )
    yield
    await lsp_client.shutdown_session()


def _restart_after_kill9() -> int:
    """SIGKILL the daemon (nothing is cleaned up) and start a new one; the new daemon's pid."""
    paths = get_paths()
    old = read_record(paths)
    kill9(old.pid, paths)
    run_voiced("daemon", "start")
    new = read_record(paths)
    assert new.pid != old.pid and new.token != old.token
    return new.pid


async def _command(client: LanguageClient, command: str, *arguments):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments) or None)
    )


async def _rewrite(client: LanguageClient, version: int = 1) -> types.TextEdit | None:
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=client.uri),
            range=types.Range(start=types.Position(line=2, character=0), end=types.Position(line=2, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    resolved = await client.code_action_resolve_async(action)
    if resolved.edit is None:
        return None
    (change,) = resolved.edit.document_changes
    return change.edits[0]


def _errors(client: LanguageClient, since: int = 0) -> list[str]:
    return [m.message for m in client.messages[since:] if m.type == types.MessageType.Error]


def _active_v1_over_the_base(tmp_path: Path) -> None:
    """A finished version made active in the registry (its history: the base model)."""
    from voiced.registry import Registry

    registry = Registry.open("mine")
    version = registry.finish_version(
        registry.begin_version({"corpus": {"words": 1000}}),
        fake_adapter(tmp_path / "adapter"),
        None,
        {"status": "candidate"},
    )
    registry.activate(version.number)


@pytest.mark.timeout(1200)
@pytest.mark.asyncio
async def test_commands_and_rewrites_follow_a_daemon_killed_and_started_again(client: LanguageClient, tmp_path):
    before = await _command(client, "voiced.status", {"quiet": True})
    assert before is not None
    _active_v1_over_the_base(tmp_path)
    new_pid = _restart_after_kill9()  # a new port and a new token; the server is not told
    shown = len(client.messages)

    status = await _command(client, "voiced.status", {"quiet": True})
    assert status is not None and status["pid"] == new_pid, client.log_messages[-3:]
    rolled = await _command(client, "voiced.rollback", {"voice": "mine"})
    assert rolled is not None and rolled["active"] is None, _errors(client, shown)
    assert any("mine: back to the base model" in m.message for m in client.messages[shown:])
    edit = await _rewrite(client)
    assert edit is not None and edit.new_text.strip(), _errors(client, shown)
    assert _errors(client, shown) == []


@pytest.mark.timeout(1200)
@pytest.mark.asyncio
async def test_a_restart_on_the_same_port_with_a_new_token(client: LanguageClient):
    port = read_record().port
    config = load_config()
    config.daemon.port = port  # the next daemon must come back on this very port
    save_config(config)
    try:
        assert (await _command(client, "voiced.status", {"quiet": True})) is not None
        _restart_after_kill9()
        assert read_record().port == port
        shown = len(client.messages)
        edit = await _rewrite(client)  # the old token gets a 401; the server re-reads daemon.json
        assert edit is not None and edit.new_text.strip(), _errors(client, shown)
        assert (await _command(client, "voiced.status")) is not None
        assert not any("token" in m for m in _errors(client, shown))
    finally:
        config.daemon.port = 0
        save_config(config)


# --- cancellation costs nothing for requests that finished ------------------------------------


class RequestTap:
    """A loopback TCP relay in front of the daemon that keeps what clients send, to count requests."""

    REQUEST_LINE = re.compile(rb"(GET|POST) (/\S*) HTTP/1\.[01]\r\n")

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent: list[bytearray] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def requests(self) -> list[tuple[str, str]]:
        return [
            (m.group(1).decode(), m.group(2).decode())
            for buffer in list(self.sent)
            for m in self.REQUEST_LINE.finditer(bytes(buffer))
        ]

    def cancels(self) -> list[str]:
        return [path for method, path in self.requests() if method == "POST" and path.endswith("/cancel")]

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            buffer = bytearray()
            self.sent.append(buffer)
            threading.Thread(target=self._pump, args=(downstream, upstream, buffer), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, keep: bytearray | None) -> None:
        try:
            while data := source.recv(65536):
                if keep is not None:
                    keep.extend(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def tap(voiced_home):
    """daemon.json points clients at the tap (the daemon itself never reads it back)."""
    record = read_record()
    tap = RequestTap(record.port)
    write_record(replace(record, port=tap.port))
    yield tap
    write_record(record)
    tap.close()


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


async def _select_all(client: LanguageClient, text: str) -> types.CodeAction:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=client.uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    last = len(text.split("\n")) - 1
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=client.uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=last, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return action


def _reports(client: LanguageClient) -> list[str]:
    return [
        v.message or ""
        for values in client.progress_reports.values()
        for v in values
        if isinstance(v, types.WorkDoneProgressReport)
    ]


THREE_PARAGRAPHS = "# Three\n\n" + "\n\n".join([PARAGRAPH] * 3) + "\n"


@pytest.mark.timeout(1200)
@pytest.mark.asyncio
async def test_finished_paragraphs_cost_no_thread_and_no_cancel(tap: RequestTap, client: LanguageClient):
    assert (await _command(client, "voiced.status", {"quiet": True})) is not None  # the worker thread exists
    server_pid = client._server.pid
    idle = _threads(server_pid)
    action = await _select_all(client, THREE_PARAGRAPHS)
    running = asyncio.ensure_future(client.code_action_resolve_async(action))
    most = idle
    while not running.done():
        most = max(most, _threads(server_pid))
        await asyncio.sleep(0.02)
    resolved = await running
    assert resolved.edit is not None, client.messages
    assert any("3/3" in m for m in _reports(client))
    rewrites = [path for method, path in tap.requests() if path == "/v1/rewrite"]
    assert len(rewrites) == 3  # one request per paragraph, all through the tap
    assert tap.cancels() == []  # nothing is cancelled after it finished
    assert most <= idle + 1, f"{most} threads during a three-paragraph rewrite, {idle} before"


@pytest.mark.timeout(1200)
@pytest.mark.asyncio
async def test_a_cancel_stops_only_the_paragraph_being_written(tap: RequestTap, client: LanguageClient):
    action = await _select_all(client, LONG_DOC)
    running = asyncio.ensure_future(client.code_action_resolve_async(action))
    await wait_for_async(lambda: any("1/6" in m for m in _reports(client)), "the first paragraph", timeout=300)
    (token,) = client.progress_reports
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    resolved = await running
    assert resolved.edit is None
    assert any(m.message == "voiced: cancelled." for m in client.messages)
    await wait_for_async(tap.cancels, "a cancel to reach the daemon", timeout=10)
    await asyncio.sleep(0.5)
    assert len(tap.cancels()) == 1  # the second paragraph's request; the finished first gets nothing
    assert not any("6/6" in m for m in _reports(client))


def test_the_client_remembers_no_finished_or_foreign_request(voiced_home):
    with DaemonClient.connect(start_if_needed=False) as daemon:
        text = "".join(daemon.stream_rewrite("mine", PARAGRAPH, request_id="done-1", max_tokens=4))
        assert text
        assert daemon.cancel("done-1") is False  # already over: nothing kept
        assert daemon.cancel("someone-elses") is False
        pieces = daemon.stream_continue("mine", PARAGRAPH, request_id="mine-1", max_tokens=1500)
        assert next(pieces)
        assert daemon.cancel("mine-1") is True
        list(pieces)  # cancelled through this client: ends quietly
        left = daemon.stream_continue("mine", PARAGRAPH, request_id="left-1", max_tokens=1500)
        assert next(left)
        left.close()  # abandoned mid-stream
        assert daemon._cancelled == set()
        assert daemon._open == set()


@pytest.mark.timeout(1200)
@pytest.mark.asyncio
async def test_an_active_version_without_a_gguf_lora_is_not_called_missing(client: LanguageClient, tmp_path):
    """A base that is not a GGUF file (a Hugging Face folder) gets no GGUF LoRA: its active version holds
    only the PEFT files. The server asks the registry, so it does not tell the writer that no adapter exists."""
    from voiced.registry import Registry

    peft = tmp_path / "peft"
    peft.mkdir()
    (peft / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    (peft / "adapter_config.json").write_text('{"r": 4}')
    registry = Registry.open("mine")
    version = registry.finish_version(
        registry.begin_version({"corpus": {"words": 1000}}), peft, None, {"status": "candidate"}
    )
    registry.activate(version.number)
    try:
        assert not (version.path / "adapter.gguf").exists()
        edit = await _rewrite(client)
        assert edit is not None, client.messages
        assert not any("no adapter is trained" in m.message for m in client.messages)
    finally:
        registry.rollback()
