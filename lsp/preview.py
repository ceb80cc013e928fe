"""Reviewing a rewrite before it lands: when to, and the edits and requests that carry it (pure).

Two ways, chosen by what the client says it can do: VS Code shows its own
refactor preview for a `WorkspaceEdit` whose edits carry a change annotation
with ``needsConfirmation``; the Neovim and Obsidian plugins opt in with
``initializationOptions: {"voicedPreview": true}`` and show the diff
themselves when the server sends them ``voiced/preview``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lsprotocol import types

from voiced.config import EditorSettings

PREVIEW_REQUEST = "voiced/preview"
OUTCOMES = ("accepted", "rejected", "edit")  # "edit": accepted, and the writer goes on editing it


def single_paragraph(text: str) -> bool:
    """One paragraph: no blank line inside the trimmed text."""
    lines = text.strip().splitlines()
    return not any(not line.strip() for line in lines)


def setting(client_settings: Mapping[str, Any], group: str, key: str) -> Any:
    """``voiced.<group>.<key>`` from the client's `voiced` section, nested (VS Code) or dotted (flat JSON)."""
    nested = client_settings.get(group)
    if isinstance(nested, Mapping) and key in nested:
        return nested[key]
    return client_settings.get(f"{group}.{key}")


def preview_wanted(text: str, editor: EditorSettings, client_settings: Mapping[str, Any]) -> bool:
    """Whether the writer wants to review a rewrite of ``text``: the setting for its size, the editor's first."""
    if single_paragraph(text):
        key, default = "singleParagraph", editor.preview_single_paragraph
    else:
        key, default = "multiParagraph", editor.preview_multi_paragraph
    value = setting(client_settings, "preview", key)
    return value if isinstance(value, bool) else default


def supports_annotations(capabilities: types.ClientCapabilities) -> bool:
    workspace = capabilities.workspace
    edit = workspace.workspace_edit if workspace else None
    return bool(edit and edit.change_annotation_support is not None)


def shows_preview_itself(initialization_options: Any) -> bool:
    """The client's plugin shows ``voiced/preview`` itself (``{"voicedPreview": true}``)."""
    if isinstance(initialization_options, Mapping):
        return initialization_options.get("voicedPreview") is True
    return getattr(initialization_options, "voicedPreview", None) is True  # pygls hands over a namedtuple


def label(voice: str, adapter_version: int | None) -> str:
    version = f"v{adapter_version}" if adapter_version is not None else "base model"
    return f"Rewrite in my voice ({voice}, {version})"


def annotation_id(proposal_id: str) -> str:
    return f"voiced-{proposal_id}"


def workspace_edit(
    uri: str,
    version: int | None,
    rng: types.Range,
    new_text: str,
    *,
    proposal_id: str | None = None,
    title: str = "",
) -> types.WorkspaceEdit:
    """The edit replacing ``rng``; with ``proposal_id``, annotated so that the client asks before applying it."""
    document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    if proposal_id is None:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(text_document=document, edits=[types.TextEdit(range=rng, new_text=new_text)])
            ]
        )
    key = annotation_id(proposal_id)
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=document,
                edits=[types.AnnotatedTextEdit(range=rng, new_text=new_text, annotation_id=key)],
            )
        ],
        change_annotations={
            key: types.ChangeAnnotation(
                label=title,
                needs_confirmation=True,
                description="Review the rewrite; reject it to keep your own words.",
            )
        },
    )


def preview_params(
    *,
    proposal_id: str,
    uri: str,
    rng: types.Range,
    original: str,
    proposal: str,
    voice: str,
    adapter_version: int | None,
) -> dict[str, Any]:
    """The params of ``voiced/preview`` (JSON-ready)."""
    return {
        "id": proposal_id,
        "uri": uri,
        "range": {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        },
        "original": original,
        "proposal": proposal,
        "voice": voice,
        "adapterVersion": adapter_version,
        "label": label(voice, adapter_version),
    }


def outcome_of(answer: Any) -> str:
    """The client's answer to ``voiced/preview``; anything unreadable counts as a rejection (nothing changes)."""
    outcome = answer.get("outcome") if isinstance(answer, Mapping) else getattr(answer, "outcome", None)
    return outcome if outcome in OUTCOMES else "rejected"
