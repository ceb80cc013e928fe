"""Test-client helpers for the language server tests."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient


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
