"""The writer is told when the rewrite guard leaves a paragraph as it was: `voiced rewrite` on stderr,
the language server with window/showMessage. A real daemon with the embedded model, greedy, answers
HAVEN with commentary (tests/test_rewrite_guard_engine.py), so the guard rejects it."""

from __future__ import annotations

import asyncio

import pytest
import test_lsp_daemon
from conftest import run_voiced
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_rewrite_guard_engine import HAVEN

from voiced import voices as voices_lib
from voiced.config import load_config, save_config

OTHER = "The rain had stopped by the time we reached the harbour, and the boats were coming in."
DOC = f"# Home\n\n{OTHER}\n\n{HAVEN}\n"


@pytest.fixture(scope="module")
def daemon_home(tmp_path_factory):
    """One daemon for the module, greedy, one try per paragraph, in its own VOICED_HOME."""
    home = tmp_path_factory.mktemp("guard-daemon")
    patch = pytest.MonkeyPatch()
    patch.setenv("VOICED_HOME", str(home / "voiced-home"))
    notes = home / "notes"
    notes.mkdir()
    voices_lib.init_config(voice="mine")
    voices_lib.add_folder(notes, "mine")
    config = load_config()
    config.inference.temperature, config.inference.seed, config.inference.guard_retries = 0.0, 7, 0
    config.inference.n_threads = 1
    save_config(config)
    run_voiced("daemon", "start")
    yield home / "voiced-home", notes
    run_voiced("daemon", "stop", check=False)
    patch.undo()


@pytest.fixture
def voiced_home(daemon_home, monkeypatch):
    home, _notes = daemon_home
    monkeypatch.setenv("VOICED_HOME", str(home))
    return home


def test_voiced_rewrite_warns_on_stderr_and_prints_the_draft(voiced_home) -> None:
    result = run_voiced("rewrite", input=f"{OTHER}\n\n{HAVEN}\n")
    assert result.stdout.strip() == f"{OTHER}\n\n{HAVEN}"  # nothing the guard rejected is printed
    assert "Paragraph 2 was left as it was, because the model commented on the text" in result.stderr
    assert "Paragraph 1 came back unchanged" in result.stderr


client = test_lsp_daemon.client  # a real LSP client (VS Code's, Neovim's capabilities) on this module's daemon


@pytest.mark.asyncio
async def test_the_language_server_says_which_paragraphs_were_left_and_why(client: LanguageClient, daemon_home) -> None:
    uri = (daemon_home[1] / "home.md").as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=DOC))
    )
    whole = types.Range(types.Position(2, 0), types.Position(4, len(HAVEN)))
    (action, *_) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=whole,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    if action.data is not None:
        edit = (await client.code_action_resolve_async(action)).edit
    else:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
        )
        edit = client.applied[-1]
    (change,) = edit.document_changes
    (text_edit,) = change.edits
    assert text_edit.new_text == f"{OTHER}\n\n{HAVEN}"  # the selection as it was: nothing rejected is inserted
    for _ in range(50):
        told = [m for m in client.messages if "left as it was" in m.message]
        if told:
            break
        await asyncio.sleep(0.1)
    (message,) = told
    assert message.type == types.MessageType.Warning
    assert message.message.startswith("voiced: Paragraph 2 was left as it was, because the model commented on the text")
    assert "Paragraph 1 came back unchanged" in message.message
