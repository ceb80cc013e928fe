"""The language server's code actions, driven by a real LSP client (pytest-lsp)
with VS Code's, Neovim's and Emacs's (eglot, no resolve) recorded capabilities.
No model runs here: offering actions must be instant and must not need the daemon."""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsp_support import parse_code_actions_by_the_spec
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced import voices as voices_lib
from voiced.lsp.actions import build_actions
from voiced.lsp.textops import Target

DOC = """\
# Notes

First paragraph of prose, written the way I write,
wrapped over two lines.

- a list item that is prose too

Second paragraph — with an emoji 🙂 before the end.
"""


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]),
    params=["visual-studio-code", "neovim", "emacs"],  # Emacs 29.1's eglot cannot resolve: it gets commands
)
async def client(request, lsp_client: LanguageClient, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    voices_lib.init_config(voice="mine")
    voices_lib.add_folder(notes, "mine")
    voices_lib.create_voice("other")
    parse_code_actions_by_the_spec(lsp_client)
    params = types.InitializeParams(capabilities=client_capabilities(request.param))
    result = await lsp_client.initialize_session(params)
    assert result.capabilities.code_action_provider.resolve_provider is True
    lsp_client.notes_uri = (notes / "a.md").as_uri()
    lsp_client.client_name = request.param
    lsp_client.encoding = result.capabilities.position_encoding or types.PositionEncodingKind.Utf16
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, text: str = DOC, language: str = "markdown") -> str:
    uri = client.notes_uri
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text))
    )
    return uri


async def _actions(client: LanguageClient, uri: str, start: tuple[int, int], end: tuple[int, int] | None = None):
    end = end or start
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(*start), types.Position(*end)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )


@pytest.mark.asyncio
async def test_rewrite_offered_on_paragraph_under_cursor(client: LanguageClient):
    uri = _open(client)
    actions = await _actions(client, uri, (2, 5))
    rewrites = [a for a in actions if a.title.startswith("Rewrite in my voice")]
    # One action per voice, the document's own voice first.
    assert [a.title for a in rewrites] == ["Rewrite in my voice (mine)", "Rewrite in my voice (other)"]
    assert all(a.kind == types.CodeActionKind.RefactorRewrite for a in rewrites)
    first = rewrites[0]
    payload = first.data if first.data else first.command.arguments[0]
    # The paragraph under the cursor: lines 2-3, to the end of line 3 (no line break).
    assert (payload["start_line"], payload["start_character"]) == (2, 0)
    assert (payload["end_line"], payload["end_character"]) == (3, len("wrapped over two lines."))
    assert payload["voice"] == "mine" and payload["version"] == 1


@pytest.mark.asyncio
async def test_resolve_or_command_depends_on_client(client: LanguageClient):
    uri = _open(client)
    action = (await _actions(client, uri, (2, 0)))[0]
    caps = client_capabilities(client.client_name).text_document.code_action
    can_resolve = bool(caps.resolve_support and "edit" in caps.resolve_support.properties)
    if can_resolve:
        assert action.data and action.command is None and action.edit is None
    else:
        assert action.command.command == "voiced.rewrite" and action.data is None


def test_an_action_for_a_client_that_cannot_resolve_carries_a_command():
    rng = types.Range(start=types.Position(line=1, character=0), end=types.Position(line=1, character=9))
    (action,) = build_actions("file:///n.md", 3, Target(rng, "Some text"), ["mine"], task="rewrite", can_resolve=False)
    assert action.data is None
    assert action.command == types.Command(
        title="Rewrite in my voice",
        command="voiced.rewrite",
        arguments=[
            {
                "task": "rewrite",
                "uri": "file:///n.md",
                "version": 3,
                "voice": "mine",
                "start_line": 1,
                "start_character": 0,
                "end_line": 1,
                "end_character": 9,
            }
        ],
    )


@pytest.mark.asyncio
async def test_utf16_positions_after_emoji(client: LanguageClient):
    uri = _open(client)
    line = DOC.splitlines()[7]
    actions = await _actions(client, uri, (7, 3))
    payload = actions[0].data or actions[0].command.arguments[0]
    # The dash and the emoji take several code units: the range end counts them in the negotiated encoding.
    units = {
        types.PositionEncodingKind.Utf16: len(line.encode("utf-16-le")) // 2,
        types.PositionEncodingKind.Utf8: len(line.encode("utf-8")),
        types.PositionEncodingKind.Utf32: len(line),
    }
    assert payload["end_character"] == units[client.encoding]
    assert len(set(units.values())) == 3


@pytest.mark.asyncio
async def test_selection_and_continue_at_paragraph_end(client: LanguageClient):
    uri = _open(client)
    selected = await _actions(client, uri, (2, 6), (2, 15))
    payload = selected[0].data or selected[0].command.arguments[0]
    assert (payload["start_character"], payload["end_character"]) == (6, 15)
    assert not any(a.title.startswith("Continue") for a in selected)
    at_end = await _actions(client, uri, (3, len("wrapped over two lines.")))
    continues = [a for a in at_end if a.title.startswith("Continue in my voice")]
    assert len(continues) == 2
    middle = await _actions(client, uri, (2, 3))
    assert not any(a.title.startswith("Continue") for a in middle)


@pytest.mark.asyncio
async def test_nothing_on_blank_lines_other_languages_or_other_kinds(client: LanguageClient):
    uri = _open(client)
    assert not await _actions(client, uri, (1, 0))
    only_quickfix = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(2, 0), types.Position(2, 0)),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.QuickFix]),
        )
    )
    assert not only_quickfix
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    uri = _open(client, "def f():\n    return 1\n", language="python")
    assert not await _actions(client, uri, (0, 0))


@pytest.mark.asyncio
async def test_configuration_changes_apply(client: LanguageClient):
    uri = _open(client)
    client.set_configuration({"voice": "other", "languages": ["python"]}, section="voiced")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(100):  # the server asks back with workspace/configuration; wait for it to take effect
        actions = await _actions(client, uri, (2, 5))
        if actions[0].title.endswith("(other)"):
            break
        await asyncio.sleep(0.05)
    assert [a.title for a in actions][:2] == ["Rewrite in my voice (other)", "Rewrite in my voice (mine)"]
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    uri = _open(client, "Some prose in a python docstring file, long enough.\n", language="python")
    assert await _actions(client, uri, (0, 0))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp", "--stdio"]))
async def stdio_client(lsp_client: LanguageClient):
    lsp_client.init_result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_stdio_flag_is_accepted(stdio_client: LanguageClient):
    """vscode-languageclient passes --stdio to servers it starts over stdio."""
    assert stdio_client.init_result.server_info.name == "voiced"
    assert stdio_client.init_result.capabilities.code_action_provider.resolve_provider is True


@pytest.mark.asyncio
async def test_a_one_character_selection_is_the_cursor(client: LanguageClient):
    """Helix's cursor is a one-character selection: it gets the paragraph, and Continue at its end."""
    uri = _open(client)
    inside = await _actions(client, uri, (2, 5), (2, 6))
    payload = inside[0].data or inside[0].command.arguments[0]
    assert (payload["start_line"], payload["end_line"]) == (2, 3)
    line = "wrapped over two lines."
    on_line_break = await _actions(client, uri, (3, len(line)), (4, 0))
    assert any(a.title.startswith("Continue in my voice") for a in on_line_break)
