"""Putting a proposal before the writer: the edit, the preview, and what the feedback tracker is told.

A rewrite the writer wants to review goes to a client that shows previews itself
as ``voiced/preview`` (applied only once accepted), to a client with change
annotations as an edit that needs confirmation, and to the rest as the edit.
Whatever happens to it (applied, refused, rejected in the preview) is handed to
the server's `Proposals`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from voiced.lsp import preview
from voiced.lsp.actions import REWRITE, TITLES, ActionData

if TYPE_CHECKING:
    from voiced.lsp.server import VoicedLanguageServer

log = logging.getLogger("voiced.lsp")


@dataclass(frozen=True)
class Generated:
    """A proposal ready for the writer: what it replaces and what the voice wrote."""

    data: ActionData
    proposal_id: str
    original: str
    text: str
    offset: int  # where the range starts in the document (characters), for the feedback tracker
    adapter_version: int | None
    previewed: bool  # a rewrite the writer wants to review before it lands
    document_version: int | None = None  # the document's version when the proposal was made

    @property
    def expected_version(self) -> int | None:
        """The version the document must still have for the edit to fit (the action's, else generation's)."""
        return self.data.version if self.data.version is not None else self.document_version

    @property
    def kind(self) -> str:
        return "rewrite" if self.data.task == REWRITE else "continue"

    @property
    def label(self) -> str:
        return preview.label(self.data.voice, self.adapter_version)


STALE = "your text changed after the rewrite was made (nothing was replaced); run it again."
UNCHANGED = "the voice gave the text back unchanged (nothing was replaced)."


def unchanged(original: str, text: str) -> bool:
    """A proposal that is the original again, but for whitespace (the guard handed the text back)."""
    return bool(original) and " ".join(original.split()) == " ".join(text.split())


def edit_for(ls: VoicedLanguageServer, generated: Generated, *, annotate: bool = True) -> types.WorkspaceEdit:
    data = generated.data
    annotated = annotate and generated.previewed and ls.supports_annotations()
    return preview.workspace_edit(
        data.uri,
        data.version,
        data.range,
        generated.text,
        proposal_id=generated.proposal_id if annotated else None,
        title=generated.label,
    )


def propose(ls: VoicedLanguageServer, generated: Generated) -> None:
    document = ls.workspace.get_text_document(generated.data.uri)
    ls.proposals.proposed(
        generated.proposal_id,
        uri=generated.data.uri,
        kind=generated.kind,
        original=generated.original,
        proposal=generated.text,
        voice=generated.data.voice,
        adapter_version=generated.adapter_version,
        start_offset=generated.offset,
        document_text=document.source,
    )


def accept_when_seen(ls: VoicedLanguageServer, generated: Generated) -> None:
    document = ls.workspace.get_text_document(generated.data.uri)
    ls.proposals.accept_when_seen(
        generated.proposal_id,
        uri=generated.data.uri,
        offset=generated.offset,
        text=generated.text,
        document_text=document.source,
    )


async def deliver(ls: VoicedLanguageServer, generated: Generated) -> bool:
    """Put the proposal before the writer and apply it with `workspace/applyEdit` unless they reject it.

    A client that shows previews itself gets ``voiced/preview`` first; one with change annotations
    gets an edit that needs confirmation (VS Code's refactor preview); the rest get the edit.
    """
    data = generated.data
    annotate = True
    if generated.previewed and ls.shows_preview_itself():
        outcome = await _ask_preview(ls, generated)
        if outcome == "rejected":
            propose(ls, generated)
            ls.proposals.rejected(generated.proposal_id)
            return False
        expected = generated.expected_version
        if expected is not None and ls.workspace.get_text_document(data.uri).version != expected:
            # Not the writer's choice: nothing is recorded.
            ls.tell(STALE, types.MessageType.Warning)
            return False
        annotate = False  # the writer has seen it: a plain edit, so one undo restores the original
    propose(ls, generated)
    edit = edit_for(ls, generated, annotate=annotate)
    title = TITLES[generated.data.task]
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=title))
    if not result.applied:
        if result.failure_reason:  # the editor could not apply it: a failure, not the writer's choice
            ls.proposals.forget(generated.proposal_id)
            ls.tell(
                f"the editor could not apply the rewrite ({result.failure_reason}); nothing was replaced. "
                "Save or reopen the document and run it again.",
                types.MessageType.Warning,
            )
        else:  # refused without a reason: the writer discarded the preview
            ls.proposals.rejected(generated.proposal_id)
            if not edit.change_annotations:
                ls.tell("the editor did not apply the edit (no reason given).", types.MessageType.Warning)
        return False
    if generated.original:  # the tracker reads a rewrite from the text before the edit or after it alike
        document = ls.workspace.get_text_document(data.uri)
        ls.proposals.accepted(
            generated.proposal_id, uri=data.uri, offset=generated.offset, document_text=document.source
        )
    else:  # an insertion shows only once the client's didChange has come
        accept_when_seen(ls, generated)
    return True


async def _ask_preview(ls: VoicedLanguageServer, generated: Generated) -> str:
    """``voiced/preview``: the client shows the diff and answers accepted, rejected or edit."""
    data = generated.data
    params = preview.preview_params(
        proposal_id=generated.proposal_id,
        uri=data.uri,
        rng=data.range,
        original=generated.original,
        proposal=generated.text,
        voice=data.voice,
        adapter_version=generated.adapter_version,
    )
    try:
        answer = await ls.protocol.send_request_async(preview.PREVIEW_REQUEST, params)
    except Exception as exc:  # a client that opted in but cannot answer: nothing changes
        log.warning("voiced/preview failed: %s", exc)
        ls.tell(f"the editor could not show the preview ({exc}); nothing was changed.", types.MessageType.Warning)
        return "rejected"
    return preview.outcome_of(plain(answer))


def plain(value: Any) -> Any:
    """pygls hands custom messages over as namedtuples: back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
