"""Clients that cannot resolve code actions get a Command, and the whole command
path works: codeAction -> Command -> workspace/executeCommand -> the server's
workspace/applyEdit, applied by the client to its copy of the document.

The clients: Emacs 29.1's eglot (capabilities recorded by pytest-lsp; eglot
resolves code actions only from 1.16, after Emacs 29) and Kate (capabilities
as its LSP client declares them in addons/lspclient/lspclientserver.cpp:
code action literals of kinds quickfix/refactor/source, progress, and no
resolve, no workspace/configuration, no applyEdit declared, though it
answers workspace/applyEdit). Real daemon with the embedded model."""

from __future__ import annotations

import sys

import pytest
import pytest_lsp
from lsp_support import DOC, PARAGRAPH, guard_off, parse_code_actions_by_the_spec
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

# Every test talks to the module's daemon (conftest's daemon_home), through the VOICED_HOME it sets.
pytestmark = pytest.mark.usefixtures("daemon_home")


@pytest.fixture(scope="module")
def daemon_settings():
    return guard_off  # these tests check the editor's path, not the model (see lsp_support.guard_off)


KATE = types.ClientCapabilities(
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=["quickfix", "refactor", "source"])
            )
        ),
        synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
)


def _capabilities(name: str) -> types.ClientCapabilities:
    return KATE if name == "kate" else client_capabilities(name)


def _apply(text: str, edit: types.TextEdit) -> str:
    """What an editor does with a TextEdit (positions in code points: the document is ASCII)."""
    lines = text.split("\n")
    offset = lambda p: sum(len(line) + 1 for line in lines[: p.line]) + p.character  # noqa: E731
    return text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]),
    params=["emacs", "kate"],
)
async def editor(request, lsp_client: LanguageClient, daemon_home):
    notes = daemon_home[1]
    lsp_client.text = DOC
    lsp_client.version = 1
    lsp_client.uri = (notes / "any-client.md").as_uri()

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        (change,) = params.edit.document_changes
        if change.text_document.uri != lsp_client.uri or change.text_document.version != lsp_client.version:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="stale")
        for edit in change.edits:
            lsp_client.text = _apply(lsp_client.text, edit)
        lsp_client.version += 1
        lsp_client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=lsp_client.uri, version=lsp_client.version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=lsp_client.text)],
            )
        )
        return types.ApplyWorkspaceEditResult(applied=True)

    capabilities = _capabilities(request.param)
    assert capabilities.text_document.code_action.resolve_support is None
    parse_code_actions_by_the_spec(lsp_client)
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities))
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=lsp_client.uri, language_id="markdown", version=1, text=DOC)
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_command_path_rewrites_the_paragraph_in_the_editor(editor: LanguageClient):
    actions = await editor.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=editor.uri),
            range=types.Range(start=types.Position(line=2, character=3), end=types.Position(line=2, character=3)),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.Refactor]),
        )
    )
    assert actions, editor.messages
    (action,) = [a for a in actions if a.title == "Rewrite in my voice"]
    assert action.kind == types.CodeActionKind.RefactorRewrite and action.data is None and action.edit is None
    command = action.command
    assert isinstance(command, types.Command) and command.command == "voiced.rewrite"
    assert command.title == "Rewrite in my voice" and command.tooltip is None
    (data,) = command.arguments
    assert (data["start_line"], data["end_line"], data["end_character"]) == (2, 2, len(PARAGRAPH))

    applied = await editor.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    assert applied is True, editor.messages
    heading, blank, paragraph, *rest = editor.text.split("\n")
    assert (heading, blank) == ("# Chapter 1", "")
    assert paragraph.strip() and paragraph != PARAGRAPH
    assert "\n".join(rest) == f"\n- {PARAGRAPH}\n"  # the list item is untouched
    assert editor.version == 2
    assert not [m for m in editor.messages if m.type == types.MessageType.Error]
