"""Every feedback outcome end to end (issue #14): the real `voiced lsp` on the module's real daemon,
driven like an editor (didChange with the text after each edit, didSave), read back from the real
feedback table of the corpus database."""

from __future__ import annotations

import stat
import sys

import pytest
import pytest_lsp
from lsp_support import guard_off
from lsprotocol import types
from process_support import wait_for_async
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced.config import Config
from voiced.corpus.feedback import FeedbackRecord, feedback_records, preference_pairs
from voiced.paths import get_paths

pytestmark = pytest.mark.usefixtures("daemon_home")

QUIET = 5.0
HEAD = "# Letter\n\n"
P1 = "The rain came down on the town all night and the roads were bad."
P2 = "She walked home slowly and thought of him the whole way."
TAIL = "\n\nYours, E.\n"
ORIGINAL = P1 + "\n\n" + P2
DOC = HEAD + ORIGINAL + TAIL
START = len(HEAD)
RANGE = types.Range(types.Position(2, 0), types.Position(4, len(P2)))  # the two paragraphs
GHOST_DOC = "# Notes\n\nIt was a dark and stormy night, and the wind"


@pytest.fixture(scope="module")
def daemon_settings():
    def settings(config: Config) -> None:
        config.editor.feedback_quiet_seconds = QUIET
        config.editor.inline_max_tokens = 12
        config.scheduler.enabled = False
        config.daemon.watch_folders = False
        guard_off(config)  # every proposal differs from its text, on every CPU (lsp_support.guard_off)

    return settings


def record_of(proposal_id: str, outcome: str | None = None) -> FeedbackRecord | None:
    """The table's record of the proposal (with ``outcome``, when given); None until it is there."""
    found = next((r for r in feedback_records(get_paths()) if r.proposal_id == proposal_id), None)
    return found if found is not None and outcome in (None, found.outcome) else None


async def settled(proposal_id: str, outcome: str, timeout: float = 20) -> FeedbackRecord:
    return await wait_for_async(
        lambda: record_of(proposal_id, outcome), f"{outcome} for {proposal_id}", timeout=timeout
    )


async def _start(lsp_client: LanguageClient, daemon_home, name: str, options=None) -> None:
    lsp_client.applied = []
    lsp_client.previews = []
    lsp_client.preview_answer = "accepted"
    lsp_client.version = 1
    lsp_client.notes = daemon_home[1]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        lsp_client.applied.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    @lsp_client.feature("voiced/preview")
    def show_preview(params):
        lsp_client.previews.append(params)
        return {"outcome": lsp_client.preview_answer}

    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities(name), initialization_options=options)
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]))
async def plugin(lsp_client: LanguageClient, daemon_home):
    """As the Neovim plugin, which shows the preview itself and answers ``preview_answer``."""
    await _start(lsp_client, daemon_home, "neovim", options={"voicedPreview": True})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]))
async def vscode(lsp_client: LanguageClient, daemon_home):
    """As VS Code: it applies a resolved code action's edit itself."""
    await _start(lsp_client, daemon_home, "visual-studio-code")
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, name: str, text: str) -> str:
    uri = (client.notes / name).as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=text))
    )
    return uri


def _change(client: LanguageClient, uri: str, text: str) -> None:
    """What an editor sends after any edit: here the whole new text."""
    client.version += 1
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=client.version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))


async def _action(client: LanguageClient, uri: str, rng: types.Range) -> types.CodeAction:
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri), range=rng, context=types.CodeActionContext(diagnostics=[])
        )
    )
    return action


async def _rewrite(plugin: LanguageClient, name: str) -> tuple[str, object]:
    """Open DOC, rewrite its two paragraphs through the plugin's preview; returns (uri, the preview shown)."""
    uri = _open(plugin, name, DOC)
    action = await _action(plugin, uri, RANGE)
    data = action.data if action.data is not None else action.command.arguments[0]
    await plugin.workspace_execute_command_async(types.ExecuteCommandParams(command="voiced.rewrite", arguments=[data]))
    (shown,) = plugin.previews
    assert shown.original == ORIGINAL and shown.proposal != ORIGINAL, plugin.messages
    return uri, shown


def _with(proposal: str) -> str:
    return HEAD + proposal + TAIL


@pytest.mark.asyncio
async def test_accepted_then_kept_at_save(plugin: LanguageClient):
    uri, shown = await _rewrite(plugin, "kept.md")
    accepted = await settled(shown.id, "accepted")
    assert (accepted.kind, accepted.voice, accepted.adapter_version) == ("rewrite", "mine", None)
    assert accepted.original == ORIGINAL and accepted.proposal == shown.proposal and accepted.final_text is None
    _change(plugin, uri, _with(shown.proposal))  # the editor applied the edit
    _change(plugin, uri, "Dearest. " + _with(shown.proposal) + "P.S. Write soon.\n")  # writing around it
    _save(plugin, uri)
    kept = await settled(shown.id, "kept")
    assert kept.final_text is None and kept.settled_at >= accepted.settled_at
    db = get_paths().corpus_db
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and stat.S_IMODE(db.parent.stat().st_mode) == 0o700


@pytest.mark.asyncio
async def test_edited_at_save_keeps_the_writers_text_and_gives_a_pair(plugin: LanguageClient):
    uri, shown = await _rewrite(plugin, "edited.md")
    middle = len(shown.proposal) // 2
    edited = shown.proposal[:middle] + " (so she said)" + shown.proposal[middle:]
    _change(plugin, uri, _with(shown.proposal))
    _change(plugin, uri, _with(edited))
    _save(plugin, uri)
    record = await settled(shown.id, "edited")
    assert record.final_text == edited
    pair = next(p for p in preference_pairs(get_paths(), "mine") if p.proposal_id == shown.id)
    assert (pair.prompt, pair.chosen, pair.rejected) == (ORIGINAL, edited, shown.proposal)


@pytest.mark.asyncio
async def test_undo_back_to_the_original_is_undone(plugin: LanguageClient):
    uri, shown = await _rewrite(plugin, "undone.md")
    _change(plugin, uri, _with(shown.proposal))
    await settled(shown.id, "accepted")
    _change(plugin, uri, DOC)  # the editor's undo: the original text again
    record = await settled(shown.id, "undone", timeout=QUIET / 2)  # at once, not at the quiet interval
    assert record.final_text == ORIGINAL
    assert all(p.proposal_id != shown.id for p in preference_pairs(get_paths(), "mine"))


@pytest.mark.asyncio
async def test_rejected_then_rewritten_by_the_writer(plugin: LanguageClient):
    plugin.preview_answer = "rejected"
    uri, shown = await _rewrite(plugin, "rejected.md")
    assert plugin.applied == []
    record = await settled(shown.id, "rejected")
    assert record.final_text is None
    own = "All night it rained on the town; the roads were bad.\n\nShe walked home slowly, thinking of him."
    _change(plugin, uri, HEAD + own + TAIL)
    _save(plugin, uri)
    await wait_for_async(
        lambda: (r := record_of(shown.id)) and r.final_text == own, "the writer's own text", timeout=20
    )
    pair = next(p for p in preference_pairs(get_paths(), "mine") if p.proposal_id == shown.id)
    assert (pair.prompt, pair.chosen, pair.rejected) == (ORIGINAL, own, shown.proposal)


@pytest.mark.asyncio
async def test_applied_by_the_editor_then_kept_after_the_quiet_interval(vscode: LanguageClient):
    uri = _open(vscode, "quiet.md", DOC)
    one = types.Range(types.Position(2, 0), types.Position(2, len(P1)))  # one paragraph: no preview
    resolved = await vscode.code_action_resolve_async(await _action(vscode, uri, one))
    assert resolved.edit is not None, vscode.messages
    (edit,) = resolved.edit.document_changes[0].edits
    _change(vscode, uri, HEAD + edit.new_text + "\n\n" + P2 + TAIL)  # VS Code applies it, then says so
    record = await wait_for_async(
        lambda: next((r for r in feedback_records(get_paths()) if r.proposal == edit.new_text), None),
        "the accepted record",
        timeout=20,
    )
    assert record.outcome == "accepted" and record.original == P1
    kept = await settled(record.proposal_id, "kept", timeout=QUIET * 4)  # no save: the quiet interval
    assert kept.settled_at - record.settled_at >= QUIET - 1


@pytest.mark.asyncio
async def test_ghost_text_unanswered_is_rejected_and_accepted_then_undone(vscode: LanguageClient):
    uri = _open(vscode, "ghost.md", GHOST_DOC)
    lines = GHOST_DOC.split("\n")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(len(lines) - 1, len(lines[-1])),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    )
    ignored = (await vscode.text_document_inline_completion_async(params)).items[0]
    (ignored_id,) = ignored.command.arguments
    record = await settled(ignored_id, "rejected", timeout=QUIET * 4)  # left alone past the quiet interval
    assert record.kind == "continue" and record.original == "" and record.proposal == ignored.insert_text

    taken = (await vscode.text_document_inline_completion_async(params)).items[0]
    (taken_id,) = taken.command.arguments
    _change(vscode, uri, GHOST_DOC + taken.insert_text)  # Tab: the ghost text is in the document
    await vscode.workspace_execute_command_async(
        types.ExecuteCommandParams(command=taken.command.command, arguments=taken.command.arguments)
    )
    await settled(taken_id, "accepted")
    _change(vscode, uri, GHOST_DOC)  # undo
    undone = await settled(taken_id, "undone", timeout=QUIET / 2)
    assert undone.final_text == ""
