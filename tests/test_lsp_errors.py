"""The language server when things go wrong: it never crashes and tells the user what to do."""

from __future__ import annotations

import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced import voices as voices_lib
from voiced.config import load_config, save_config

TEXT = "A paragraph of prose that the writer would like to hear in their own voice.\n"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]))
async def client(lsp_client: LanguageClient, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    voices_lib.init_config(voice="mine")
    voices_lib.add_folder(notes, "mine")
    await lsp_client.initialize_session(types.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    lsp_client.uri = (notes / "a.md").as_uri()
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=lsp_client.uri, language_id="markdown", version=1, text=TEXT)
        )
    )
    yield
    await lsp_client.shutdown_session()


async def _resolve(client: LanguageClient) -> types.CodeAction:
    (action,) = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(client.uri),
            range=types.Range(types.Position(0, 0), types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return await client.code_action_resolve_async(action)


@pytest.mark.asyncio
async def test_daemon_that_cannot_start_is_explained(client: LanguageClient):
    config = load_config()
    config.daemon.host = "0.0.0.0"  # the daemon refuses to listen beyond loopback
    save_config(config)
    resolved = await _resolve(client)
    assert resolved.edit is None
    (message,) = [m for m in client.messages if m.type == types.MessageType.Error]
    assert message.message.startswith("voiced: ") and "daemon" in message.message
    assert any(m.type == types.MessageType.Error for m in client.log_messages)
    # The server is still alive and answering.
    assert await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(client.uri),
            range=types.Range(types.Position(0, 0), types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )


@pytest.mark.asyncio
async def test_model_that_fails_to_load_is_explained(client: LanguageClient, tmp_path):
    config = load_config()
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF but not really a model")
    config.voices["mine"].base_model = str(bogus)
    save_config(config)
    try:
        resolved = await _resolve(client)
    finally:
        from conftest import run_voiced

        run_voiced("daemon", "stop", check=False)
    assert resolved.edit is None
    errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert errors and "could not" in errors[0]


@pytest.mark.asyncio
async def test_malformed_action_data(client: LanguageClient):
    resolved = await client.code_action_resolve_async(types.CodeAction(title="x", data={"nonsense": 1}))
    assert resolved.edit is None
    assert any("malformed" in m.message for m in client.messages)
