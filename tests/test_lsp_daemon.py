"""`voiced lsp` against a real daemon with the embedded model: resolve -> edit,
the command fallback through workspace/applyEdit, progress, cancellation, stale
documents and errors, with VS Code's and Neovim's recorded capabilities."""

from __future__ import annotations

import asyncio

import pytest
from lsp_support import DOC, LONG_DOC, PARAGRAPH, guard_off
from lsprotocol import types
from process_support import wait_for_async
from pytest_lsp import LanguageClient, client_capabilities

from voiced.config import load_config, save_config

# Every test runs against the module's daemon (conftest's daemon_home) through conftest's `client`:
# `voiced lsp` as VS Code and as Neovim with chapter.md (DOC) open.
pytestmark = pytest.mark.usefixtures("daemon_home")


@pytest.fixture(scope="module")
def daemon_settings():
    return guard_off  # these tests check the editor's path, not the model (see lsp_support.guard_off)


async def _rewrite_action(client: LanguageClient, line: int = 2) -> types.CodeAction:
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(client.uri),
            range=types.Range(types.Position(line, 0), types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return actions[0]


def _single_edit(edit: types.WorkspaceEdit) -> types.TextEdit:
    (change,) = edit.document_changes
    assert change.text_document.uri.endswith("chapter.md") and change.text_document.version == 1
    (text_edit,) = change.edits
    return text_edit


async def _run(client: LanguageClient, action: types.CodeAction) -> types.TextEdit | None:
    """What a client does with an action: resolve it, or execute its command."""
    if action.data is not None:
        resolved = await client.code_action_resolve_async(action)
        return _single_edit(resolved.edit) if resolved.edit else None
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
    )
    return _single_edit(client.applied[-1]) if client.applied else None


@pytest.mark.asyncio
async def test_rewrite_replaces_exactly_the_paragraph(client: LanguageClient):
    action = await _rewrite_action(client)
    edit = await _run(client, action)
    assert edit is not None, client.messages
    assert edit.range == types.Range(types.Position(2, 0), types.Position(2, len(PARAGRAPH)))
    assert edit.new_text.strip() and edit.new_text != PARAGRAPH
    assert "\n\n" not in edit.new_text
    # No adapter yet: the writer is told the base model wrote it.
    assert any("base model" in m.message for m in client.messages)
    # Progress was shown, cancellable, with a paragraph count.
    reports = [v for values in client.progress_reports.values() for v in values]
    window = client_capabilities(client.client_name).window
    if window and window.work_done_progress:
        assert any(isinstance(v, types.WorkDoneProgressBegin) and v.cancellable for v in reports)
        assert any(isinstance(v, types.WorkDoneProgressReport) and "1/1" in (v.message or "") for v in reports)
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)


@pytest.mark.asyncio
async def test_list_item_keeps_its_marker(client: LanguageClient):
    action = await _rewrite_action(client, line=4)
    edit = await _run(client, action)
    assert edit is not None, client.messages
    assert edit.new_text.startswith("- ") and edit.new_text != f"- {PARAGRAPH}"


@pytest.mark.asyncio
async def test_stale_document_is_not_edited(client: LanguageClient):
    action = await _rewrite_action(client)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=client.uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=DOC + "\nMore.\n")],
        )
    )
    edit = await _run(client, action)
    assert edit is None
    assert any("changed" in m.message for m in client.messages)


def _in_flight() -> int:
    from voiced.daemon.client import DaemonClient

    with DaemonClient.connect(start_if_needed=False) as daemon:
        return daemon.status()["requests_in_flight"]


def _select_all(client: LanguageClient, text: str) -> types.Range:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=client.uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    lines = text.split("\n")
    return types.Range(types.Position(0, 0), types.Position(len(lines) - 1, 0))


def _reports(client: LanguageClient) -> list:
    return [v for values in client.progress_reports.values() for v in values]


@pytest.mark.asyncio
async def test_cancel_request_stops_generation_in_the_daemon(client: LanguageClient):
    if client.client_name != "visual-studio-code":
        pytest.skip("resolve-based cancellation: the VS Code capabilities resolve edits")
    selection = _select_all(client, LONG_DOC)
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(client.uri),
            range=selection,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    pending = asyncio.wrap_future(
        client.protocol.send_request(types.CODE_ACTION_RESOLVE, action, msg_id="resolve-to-cancel")
    )
    await wait_for_async(
        lambda: any(
            isinstance(v, types.WorkDoneProgressReport) and "1/6" in (v.message or "") for v in _reports(client)
        ),
        "the progress report of the first paragraph",
        timeout=120,
    )
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="resolve-to-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await pending
    await wait_for_async(lambda: _in_flight() == 0, "the daemon to have no request in flight", timeout=10)
    assert not any(isinstance(v, types.WorkDoneProgressReport) and "6/6" in (v.message or "") for v in _reports(client))


@pytest.mark.asyncio
async def test_progress_cancel_button_stops_and_applies_nothing(client: LanguageClient):
    selection = _select_all(client, LONG_DOC)
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(client.uri),
            range=selection,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    running = asyncio.ensure_future(_run(client, action))
    await wait_for_async(
        lambda: any(
            isinstance(v, types.WorkDoneProgressReport) and "1/6" in (v.message or "") for v in _reports(client)
        ),
        "the progress report of the first paragraph",
        timeout=120,
    )
    (token,) = client.progress_reports
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    assert await running is None
    assert any(m.message == "voiced: cancelled." for m in client.messages)
    await wait_for_async(lambda: _in_flight() == 0, "the daemon to have no request in flight", timeout=10)


@pytest.mark.asyncio
async def test_huge_selection_gets_a_message(client: LanguageClient):
    config = load_config()
    config.editor.max_selection_chars = 50
    save_config(config)
    try:
        edit = await _run(client, await _rewrite_action(client))
    finally:
        config.editor.max_selection_chars = 20_000
        save_config(config)
    assert edit is None
    assert any("at most 50" in m.message and "Select less" in m.message for m in client.messages)


@pytest.mark.asyncio
async def test_status_command(client: LanguageClient):
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="voiced.status"))
    assert result["voices"] == ["mine"]
    assert any("mine: base model" in m.message for m in client.messages)
