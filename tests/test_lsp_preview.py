"""Review before a rewrite lands (issue #14), against the module's real daemon: change annotations
for VS Code's refactor preview, the `voiced/preview` request for plugins that show the diff
themselves, and the feedback table's record of a rejection."""

from __future__ import annotations

import sys

import pytest
import pytest_lsp
from lsp_support import TWO_PARAGRAPHS, feedback_of, feedback_with_proposal, guard_off, whole_range
from lsprotocol import types
from process_support import wait_for_async
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced.config import EditorSettings
from voiced.lsp.delivery import unchanged
from voiced.lsp.preview import preview_wanted, single_paragraph

pytestmark = pytest.mark.usefixtures("daemon_home")

ONE_PARAGRAPH = "The rain came down on the town all night."


@pytest.fixture(scope="module")
def daemon_settings():
    return guard_off  # these tests check how a proposal reaches the writer, not the model (lsp_support.guard_off)


async def _start(lsp_client: LanguageClient, daemon_home, name: str, options=None, answer: bool = True):
    """`voiced lsp` as ``name``; edits it is asked to apply are kept in ``applied`` and answered ``answer``."""
    lsp_client.applied = []
    lsp_client.answer = answer
    lsp_client.failure_reason = None

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        lsp_client.applied.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=lsp_client.answer, failure_reason=lsp_client.failure_reason)

    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities(name), initialization_options=options)
    )
    lsp_client.uri = (daemon_home[1] / "preview.md").as_uri()


def _open(client: LanguageClient, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=client.uri, language_id="markdown", version=1, text=text)
        )
    )


async def _action(client: LanguageClient, text: str) -> types.CodeAction:
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(client.uri),
            range=whole_range(text),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return action


def _data(action: types.CodeAction):
    return action.data if action.data is not None else action.command.arguments[0]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]))
async def vscode(lsp_client: LanguageClient, daemon_home):
    """As VS Code: change annotations supported, no opt-in to `voiced/preview`."""
    await _start(lsp_client, daemon_home, "visual-studio-code")
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_multi_paragraph_rewrite_needs_confirmation(vscode: LanguageClient):
    _open(vscode, TWO_PARAGRAPHS)
    resolved = await vscode.code_action_resolve_async(await _action(vscode, TWO_PARAGRAPHS))
    assert resolved.edit is not None, vscode.messages
    (change,) = resolved.edit.document_changes
    (edit,) = change.edits
    assert isinstance(edit, types.AnnotatedTextEdit)
    annotation = resolved.edit.change_annotations[edit.annotation_id]
    assert annotation.needs_confirmation is True
    assert annotation.label == "Rewrite in my voice (mine, base model)"
    assert edit.annotation_id.startswith("voiced-")


@pytest.mark.asyncio
async def test_single_paragraph_rewrite_lands_directly(vscode: LanguageClient):
    _open(vscode, ONE_PARAGRAPH)
    resolved = await vscode.code_action_resolve_async(await _action(vscode, ONE_PARAGRAPH))
    assert resolved.edit is not None, vscode.messages
    assert not resolved.edit.change_annotations
    (change,) = resolved.edit.document_changes
    (edit,) = change.edits
    assert not isinstance(edit, types.AnnotatedTextEdit)


@pytest.mark.asyncio
async def test_single_paragraph_preview_is_a_setting(vscode: LanguageClient):
    vscode.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"voiced": {"preview": {"singleParagraph": True}}})
    )
    _open(vscode, ONE_PARAGRAPH)
    resolved = await vscode.code_action_resolve_async(await _action(vscode, ONE_PARAGRAPH))
    (edit,) = resolved.edit.document_changes[0].edits
    assert isinstance(edit, types.AnnotatedTextEdit)
    assert resolved.edit.change_annotations[edit.annotation_id].needs_confirmation is True


@pytest.mark.asyncio
async def test_preview_dismissed_in_the_editor_is_recorded_as_rejected(vscode: LanguageClient):
    vscode.answer = False  # VS Code's refactor preview, discarded: workspace/applyEdit answers applied: false
    _open(vscode, TWO_PARAGRAPHS)
    data = _data(await _action(vscode, TWO_PARAGRAPHS))
    applied = await vscode.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.rewrite", arguments=[data])
    )
    assert applied is False
    (edit,) = vscode.applied[-1].document_changes[0].edits
    proposal_id = edit.annotation_id.removeprefix("voiced-")
    record = await wait_for_async(lambda: feedback_of(proposal_id), "the feedback record", timeout=10)
    assert record.outcome == "rejected" and record.kind == "rewrite" and record.voice == "mine"
    assert record.original == TWO_PARAGRAPHS and record.proposal == edit.new_text
    assert not any("did not apply" in m.message for m in vscode.messages)  # the writer's choice, not an error


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]))
async def plugin(lsp_client: LanguageClient, daemon_home):
    """As the Neovim plugin: it shows the diff itself (`voiced/preview`), answering ``preview_answer``."""
    await _start(lsp_client, daemon_home, "neovim", options={"voicedPreview": True})
    lsp_client.previews = []
    lsp_client.preview_answer = "accepted"
    lsp_client.while_shown = None  # what the writer does while the diff is shown

    @lsp_client.feature("voiced/preview")
    def show_preview(params):
        lsp_client.previews.append(params)
        if lsp_client.while_shown is not None:
            lsp_client.while_shown()
        return {"outcome": lsp_client.preview_answer}

    yield
    await lsp_client.shutdown_session()


async def _rewrite_through_plugin(plugin: LanguageClient) -> bool:
    _open(plugin, TWO_PARAGRAPHS)
    data = _data(await _action(plugin, TWO_PARAGRAPHS))
    return await plugin.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.rewrite", arguments=[data])
    )


@pytest.mark.asyncio
async def test_preview_accepted_applies_a_plain_edit(plugin: LanguageClient):
    assert await _rewrite_through_plugin(plugin) is True, plugin.messages
    (shown,) = plugin.previews
    assert shown.original == TWO_PARAGRAPHS and shown.voice == "mine" and shown.adapterVersion is None
    assert shown.label == "Rewrite in my voice (mine, base model)"
    assert (shown.range.start.line, shown.range.end.line) == (0, 2) and shown.uri == plugin.uri
    (workspace_edit,) = plugin.applied
    (edit,) = workspace_edit.document_changes[0].edits
    assert not isinstance(edit, types.AnnotatedTextEdit)  # one undo restores the original
    assert edit.new_text == shown.proposal and workspace_edit.document_changes[0].text_document.version == 1
    record = await wait_for_async(lambda: feedback_of(shown.id), "the feedback record", timeout=10)
    assert record.outcome == "accepted"


@pytest.mark.asyncio
async def test_preview_rejected_changes_nothing(plugin: LanguageClient):
    plugin.preview_answer = "rejected"
    assert await _rewrite_through_plugin(plugin) is False
    (shown,) = plugin.previews
    assert plugin.applied == []  # the server edits only through workspace/applyEdit: nothing changed
    record = await wait_for_async(lambda: feedback_of(shown.id), "the feedback record", timeout=10)
    assert record.outcome == "rejected" and record.proposal == shown.proposal


@pytest.mark.asyncio
async def test_preview_edit_counts_as_accepted(plugin: LanguageClient):
    plugin.preview_answer = "edit"
    assert await _rewrite_through_plugin(plugin) is True
    assert len(plugin.applied) == 1


def test_a_proposal_that_is_the_original_again_is_not_proposed():
    assert unchanged("The rain came.\n\nIt stopped.", "The rain  came.\nIt stopped. ")
    assert not unchanged("The rain came.", "The rain fell.")
    assert not unchanged("", "")  # a continuation has no original: never "unchanged"


@pytest.mark.asyncio
async def test_single_paragraph_skips_the_preview(plugin: LanguageClient):
    _open(plugin, ONE_PARAGRAPH)
    data = _data(await _action(plugin, ONE_PARAGRAPH))
    applied = await plugin.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.rewrite", arguments=[data])
    )
    assert applied is True and plugin.previews == [] and len(plugin.applied) == 1
    (edit,) = plugin.applied[0].document_changes[0].edits
    record = await wait_for_async(lambda: feedback_with_proposal(edit.new_text), "the feedback record", timeout=10)
    # "accepted" at once; "kept" once the tracker's quiet period settles it (a slow machine can get there first)
    assert record.outcome in ("accepted", "kept")


def test_one_paragraph_is_text_without_a_blank_line():
    assert single_paragraph("A line\nwrapped onto another.\n")
    assert single_paragraph("\n  One paragraph, selected with its blank lines.\n\n")
    assert not single_paragraph("One.\n\nTwo.")
    assert not single_paragraph("One.\n   \nTwo.")


def test_preview_settings_nested_dotted_or_the_config():
    editor = EditorSettings()
    assert preview_wanted("One.\n\nTwo.", editor, {}) is True
    assert preview_wanted("One.", editor, {}) is False
    assert preview_wanted("One.", editor, {"preview": {"singleParagraph": True}}) is True
    assert preview_wanted("One.\n\nTwo.", editor, {"preview.multiParagraph": False}) is False
    assert preview_wanted("One.", editor, {"preview": {"singleParagraph": "yes"}}) is False  # not a bool: the default
