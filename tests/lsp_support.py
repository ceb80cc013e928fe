"""Test-client helpers for the language server tests: the voice they write in, their documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from voiced import voices as voices_lib
from voiced.config import load_config, save_config

# The editor's path, not the model (see guard_off), for configure_voice(root, **EDITOR_PATH_ONLY)
EDITOR_PATH_ONLY = {"guard": False, "max_tokens_factor": 0.5, "max_tokens_extra": 0}


def guard_off(config) -> None:
    """A module's daemon for tests of the editor's path rather than the model (its ``daemon_settings``).

    Greedy output of the embedded model differs between CPUs (AVX-512 against AMX builds of llama.cpp): on
    some the guard rightly gives PARAGRAPH back unchanged, on others the model itself copies a short
    sentence, and an unchanged proposal is never put forward. So the guard is off and a rewrite may be at
    most half its input: every proposal differs from its text. tests/test_rewrite_guard_clients.py covers
    the guard through the LSP."""
    for key, value in EDITOR_PATH_ONLY.items():
        setattr(config.inference, key, value)


PARAGRAPH = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife."
)
DOC = f"# Chapter 1\n\n{PARAGRAPH}\n\n- {PARAGRAPH}\n"
LONG_DOC = "# Long\n\n" + "\n\n".join([PARAGRAPH] * 6) + "\n"


def configure_voice(root: Path, **inference) -> Path:
    """The voice "mine" writing in ``root/notes``, greedy (temperature 0, seed 7) plus ``inference`` changes.

    Written to the config of the current VOICED_HOME; returns the notes folder.
    """
    notes = root / "notes"
    notes.mkdir(exist_ok=True)
    voices_lib.init_config(voice="mine")
    voices_lib.add_folder(notes, "mine")
    config = load_config()
    config.inference.temperature = 0.0
    config.inference.seed = 7
    for key, value in inference.items():
        setattr(config.inference, key, value)
    save_config(config)
    return notes


def parse_code_actions_by_the_spec(client: LanguageClient) -> None:
    """Tell a `CodeAction` that carries a command from a bare `Command` as editors do: by whether
    ``command`` is a string. lsprotocol 2025.0.0's own hook takes any object with a ``command``
    key for a Command, so a test client would see the Command fallback as a garbled Command."""
    converter = client.protocol._converter

    def structure(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, structure)


# --- issue #14: preview, ghost text, feedback ------------------------------------------------

TWO_PARAGRAPHS = "The rain came down on the town all night.\n\nShe walked home slowly and thought of him."
INLINE_DOC = "# Notes\n\nIt was a dark and stormy night, and the wind"


def client_with_partial_results() -> LanguageClient:
    """pytest-lsp's client that also keeps partial results (``$/progress`` values that are not
    work-done progress), by token, in ``client.partial_results``."""
    from pygls.protocol import default_converter
    from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

    from voiced.lsp.inline import send_partial_result_tokens

    client = LanguageClient(converter_factory=default_converter)
    client.partial_results = {}
    work_done = DEFAULT_CLIENT_FEATURES[types.PROGRESS]

    def progress(client: LanguageClient, params: types.ProgressParams) -> None:
        value = params.value
        if isinstance(value, dict) and "kind" in value:
            work_done(client, params)
        else:
            client.partial_results.setdefault(params.token, []).append(value)

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.PROGRESS: progress})
    send_partial_result_tokens(client.protocol._converter)
    return client


def replace_document(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def whole_range(text: str) -> types.Range:
    lines = text.split("\n")
    return types.Range(types.Position(0, 0), types.Position(len(lines) - 1, len(lines[-1])))


def end_of(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(len(lines) - 1, len(lines[-1]))


def feedback_of(proposal_id: str):
    """The feedback table's record of one proposal (None until it is written)."""
    from voiced.corpus.feedback import feedback_records
    from voiced.paths import get_paths

    return next((r for r in feedback_records(get_paths()) if r.proposal_id == proposal_id), None)


def feedback_with_proposal(text: str):
    """The newest record whose proposal is ``text``."""
    from voiced.corpus.feedback import feedback_records
    from voiced.paths import get_paths

    found = [r for r in feedback_records(get_paths()) if r.proposal == text]
    return found[-1] if found else None
