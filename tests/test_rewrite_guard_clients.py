"""The writer is told when the rewrite guard leaves a paragraph as it was: `voiced rewrite` on stderr,
the language server with window/showMessage. A real daemon with the embedded model, greedy, answers
HAVEN with commentary (tests/test_rewrite_guard_engine.py), so the guard rejects it."""

from __future__ import annotations

import asyncio

import pytest
from engine_support import HAVEN
from lsprotocol import types
from process_support import run_voiced
from pytest_lsp import LanguageClient

# Every test talks to the module's daemon (conftest's daemon_home); `client` is conftest's LSP client on it.
pytestmark = pytest.mark.usefixtures("daemon_home")

OTHER = "The rain had stopped by the time we reached the harbour, and the boats were coming in."
DOC = f"# Home\n\n{OTHER}\n\n{HAVEN}\n"


@pytest.fixture(scope="module")
def daemon_settings():
    """The module's daemon (greedy, from conftest) tries each paragraph once, on one thread."""

    def settings(config):
        config.inference.guard_retries = 0
        config.inference.n_threads = 1
        config.inference.draft_anchor_base = 0.0  # unanchored, the base model comments on HAVEN: the premise

    return settings


def test_voiced_rewrite_warns_on_stderr_and_prints_the_draft(voiced_home) -> None:
    result = run_voiced("rewrite", input=f"{OTHER}\n\n{HAVEN}\n")
    assert result.stdout.strip() == f"{OTHER}\n\n{HAVEN}"  # nothing the guard rejected is printed
    assert "Paragraph 2 was left as it was, because the model commented on the text" in result.stderr
    assert "Paragraph 1 came back unchanged" in result.stderr


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
        assert (await client.code_action_resolve_async(action)).edit is None
    else:
        applied = len(client.applied)
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
        )
        assert len(client.applied) == applied
    # nothing rejected is inserted, and a text handed back as it was is no edit at all
    for _ in range(50):
        told = [m for m in client.messages if "left as it was" in m.message]
        if told:
            break
        await asyncio.sleep(0.1)
    (message,) = told
    assert message.type == types.MessageType.Warning
    assert message.message.startswith("voiced: Paragraph 2 was left as it was, because the model commented on the text")
    assert "Paragraph 1 came back unchanged" in message.message
    assert any("unchanged (nothing was replaced)" in m.message for m in client.log_messages)
