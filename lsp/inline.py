"""Ghost-text Continue: the voice's continuation at the cursor, streamed and stopped at once when dismissed.

Independent of the server object: the server passes the daemon, a
`Cancellation` and a callback for the text so far (sent as partial results).
A ghost text is at most ``inline_max_tokens`` tokens and one paragraph: at
the first paragraph break the generation is stopped in the daemon, so no core
writes what the writer will not see.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from cattrs import Converter
from lsprotocol import types

from voiced.config import EditorSettings
from voiced.lsp.cancelling import Cancellation
from voiced.lsp.preview import setting
from voiced.lsp.rewriting import RewriteCancelled

INLINE_REQUEST = "voiced/inlineCompletion"  # the same as textDocument/inlineCompletion, for older clients
ACCEPTED_COMMAND = "voiced.inlineAccepted"
CONTEXT_CHARS = 3000


@attrs.define
class StreamedInlineCompletionParams(types.InlineCompletionParams):
    """`InlineCompletionParams` with a ``partialResultToken``: LSP 3.18 gives inline completion none,
    voiced's streaming takes one (clients that send none get the complete answer only)."""

    partial_result_token: types.ProgressToken | None = attrs.field(default=None)


def read_partial_result_tokens(converter: Converter) -> None:
    """Make ``converter`` (the server's) keep ``partialResultToken`` of inline-completion params."""
    streamed = converter.get_structure_hook(StreamedInlineCompletionParams)
    converter.register_structure_hook_func(
        lambda cls: cls is types.InlineCompletionParams, lambda obj, _: streamed(obj, StreamedInlineCompletionParams)
    )


def send_partial_result_tokens(converter: Converter) -> None:
    """Make ``converter`` (a client's) send the token of `StreamedInlineCompletionParams` (tests, bench)."""
    plain = converter.get_unstructure_hook(types.InlineCompletionParams)
    streamed = converter.get_unstructure_hook(StreamedInlineCompletionParams)
    converter.register_unstructure_hook_func(
        lambda cls: cls is types.InlineCompletionParams,
        lambda obj: streamed(obj) if isinstance(obj, StreamedInlineCompletionParams) else plain(obj),
    )


def partial_result_token(params: types.InlineCompletionParams) -> types.ProgressToken | None:
    return getattr(params, "partial_result_token", None)


def auto_trigger(editor: EditorSettings, client_settings: Mapping[str, Any]) -> bool:
    value = setting(client_settings, "inline", "autoTrigger")
    return value if isinstance(value, bool) else editor.inline_auto_trigger


def answers(context: types.InlineCompletionContext | None, auto: bool) -> bool:
    """Invoked (a key, a command) is always answered; Automatic (a pause) only with auto-trigger on."""
    if context is None or context.trigger_kind == types.InlineCompletionTriggerKind.Invoked:
        return True
    return auto


def text_before(source: str, offset: int) -> str:
    """What the continuation follows: the text before the cursor, the last few thousand characters."""
    return source[max(0, offset - CONTEXT_CHARS) : offset].lstrip()


def ghost_text(raw: str, before: str) -> tuple[str, bool]:
    """The generated text as it reads after ``before``: one space between words, cut at the first
    paragraph break. True when cut there (nothing more will be shown)."""
    text = raw.lstrip()
    cut = text.find("\n\n")
    if cut >= 0:
        text = text[:cut].rstrip()
    if text and before and not before[-1].isspace():
        text = " " + text
    return text, cut >= 0


def completion_list(text: str, position: types.Position, proposal_id: str) -> types.InlineCompletionList:
    if not text.strip():
        return types.InlineCompletionList(items=[])
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=text,
                range=types.Range(start=position, end=position),
                command=types.Command(title="voiced: accepted", command=ACCEPTED_COMMAND, arguments=[proposal_id]),
            )
        ]
    )


def stream_ghost(
    daemon: Any,
    voice: str,
    before: str,
    options: dict[str, Any],
    cancel: Cancellation,
    on_text: Callable[[str], None],
) -> str:
    """Runs in a worker thread: stream the continuation, calling ``on_text`` with the text so far."""
    request_id = f"lsp-inline-{uuid.uuid4().hex}"
    raw: list[str] = []
    text = ""
    with cancel.generating(request_id):
        pieces = daemon.stream_continue(voice, before, request_id=request_id, **options)
        try:
            for piece in pieces:
                if cancel.is_set():
                    raise RewriteCancelled()
                raw.append(piece)
                shown, complete = ghost_text("".join(raw), before)
                if shown != text:
                    text = shown
                    on_text(text)
                if complete:
                    daemon.cancel(request_id)  # a paragraph is all a ghost text shows: stop writing now
                    break
        finally:
            pieces.close()
    if cancel.is_set():
        raise RewriteCancelled()
    return text
