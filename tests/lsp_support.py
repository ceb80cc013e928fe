"""Test-client helpers for the language server tests: the voice they write in, their documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from voiced import voices as voices_lib
from voiced.config import load_config, save_config

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
