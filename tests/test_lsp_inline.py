"""Ghost-text Continue (issue #14), against the module's real daemon: textDocument/inlineCompletion
and its voiced/inlineCompletion alias, the trigger kinds, partial results while the daemon streams,
cancellation that stops the daemon's generation, and what the feedback table records."""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsp_support import INLINE_DOC, client_with_partial_results, end_of, feedback_of, replace_document
from lsprotocol import types
from process_support import wait_for_async
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced.config import Config, load_config, save_config
from voiced.daemon.client import DaemonClient
from voiced.lsp.inline import StreamedInlineCompletionParams, ghost_text

pytestmark = pytest.mark.usefixtures("daemon_home")


@pytest.fixture(scope="module")
def daemon_settings():
    def short(config: Config) -> None:
        config.editor.inline_max_tokens = 12  # fast tests; the cancel test asks for more

    return short


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "voiced", "lsp"], client_factory=client_with_partial_results
    ),
    params=["visual-studio-code", "neovim"],
)
async def client(request, lsp_client: LanguageClient, daemon_home):
    result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities(request.param))
    )
    lsp_client.server_capabilities = result.capabilities
    lsp_client.uri = (daemon_home[1] / "ghost.md").as_uri()
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=lsp_client.uri, language_id="markdown", version=1, text=INLINE_DOC)
        )
    )
    yield
    await lsp_client.shutdown_session()


def _params(client: LanguageClient, kind=types.InlineCompletionTriggerKind.Invoked, token=None):
    return StreamedInlineCompletionParams(
        text_document=types.TextDocumentIdentifier(client.uri),
        position=end_of(INLINE_DOC),
        context=types.InlineCompletionContext(trigger_kind=kind),
        partial_result_token=token,
    )


def _in_flight() -> int:
    with DaemonClient.connect(start_if_needed=False) as daemon:
        return daemon.status()["requests_in_flight"]


@pytest.mark.asyncio
async def test_server_advertises_inline_completion(client: LanguageClient):
    assert client.server_capabilities.inline_completion_provider is not None


@pytest.mark.asyncio
async def test_invoked_gives_ghost_text_at_the_cursor(client: LanguageClient):
    result = await client.text_document_inline_completion_async(_params(client))
    assert len(result.items) == 1, client.messages
    (item,) = result.items
    assert item.insert_text.startswith(" ") and item.insert_text.strip()
    assert "\n\n" not in item.insert_text
    assert item.range == types.Range(end_of(INLINE_DOC), end_of(INLINE_DOC))
    assert item.command.command == "voiced.inlineAccepted"
    (proposal_id,) = item.command.arguments
    assert await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.inlineAccepted", arguments=[proposal_id])
    )
    record = await wait_for_async(lambda: feedback_of(proposal_id), "the feedback record", timeout=10)
    assert record.kind == "continue" and record.outcome == "accepted" and record.proposal == item.insert_text


@pytest.mark.asyncio
async def test_automatic_waits_for_the_setting(client: LanguageClient):
    automatic = types.InlineCompletionTriggerKind.Automatic
    result = await client.text_document_inline_completion_async(_params(client, automatic))
    assert list(result.items) == []
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"voiced": {"inline": {"autoTrigger": True}}})
    )
    result = await client.text_document_inline_completion_async(_params(client, automatic))
    assert len(result.items) == 1 and result.items[0].insert_text.strip()


@pytest.mark.asyncio
async def test_partial_results_stream_the_text_so_far(client: LanguageClient):
    result = await client.text_document_inline_completion_async(_params(client, token="ghost-1"))
    partials = client.partial_results["ghost-1"]
    texts = [p["items"][0]["insertText"] for p in partials]
    assert texts, "no partial result arrived"
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    assert result.items[0].insert_text.startswith(texts[-1].rstrip())


@pytest.mark.asyncio
async def test_alias_for_clients_without_the_method(client: LanguageClient):
    params = client.protocol._converter.unstructure(_params(client), types.InlineCompletionParams)
    answer = await client.protocol.send_request_async("voiced/inlineCompletion", params)
    (item,) = answer.items
    assert item.insertText.strip() and item.command.command == "voiced.inlineAccepted"


@pytest.mark.asyncio
async def test_a_new_request_dismisses_the_ghost_text_shown(client: LanguageClient):
    first = await client.text_document_inline_completion_async(_params(client))
    (shown_id,) = first.items[0].command.arguments
    await client.text_document_inline_completion_async(_params(client))
    record = await wait_for_async(lambda: feedback_of(shown_id), "the feedback record", timeout=10)
    assert record.outcome == "rejected"


@pytest.mark.asyncio
async def test_cancel_while_streaming_stops_the_daemon(client: LanguageClient):
    config = load_config()
    config.editor.inline_max_tokens = 400
    save_config(config)
    try:
        pending = asyncio.wrap_future(
            client.protocol.send_request(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, _params(client, token="ghost-c"), msg_id="ghost-to-cancel"
            )
        )
        await wait_for_async(lambda: client.partial_results.get("ghost-c"), "the first partial result", timeout=60)
        assert _in_flight() == 1
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="ghost-to-cancel"))
        with pytest.raises(Exception, match="cancel"):
            await pending
        await wait_for_async(lambda: _in_flight() == 0, "the daemon to stop generating", timeout=3)
        shown = len(client.partial_results["ghost-c"])
        await asyncio.sleep(0.5)
        assert len(client.partial_results["ghost-c"]) == shown  # nothing more was written
    finally:
        config.editor.inline_max_tokens = 12
        save_config(config)


def test_ghost_text_reads_on_from_the_cursor_and_stops_at_a_paragraph():
    assert ghost_text("  and the rain", "the wind") == (" and the rain", False)
    assert ghost_text("and the rain", "the wind ") == ("and the rain", False)
    assert ghost_text(" howled.\n\nNext morning", "the wind") == (" howled.", True)
    assert ghost_text("\n\nNext morning", "the wind.") == (" Next morning", False)  # leading breaks are skipped


@pytest.mark.asyncio
async def test_typing_on_while_it_writes_gives_no_ghost_text(client: LanguageClient):
    pending = asyncio.wrap_future(client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, _params(client)))
    replace_document(client, client.uri, INLINE_DOC + " blew", 2)  # reaches the server while the daemon writes
    result = await pending
    assert list(result.items) == []
