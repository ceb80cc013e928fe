"""`voiced lsp`: "Rewrite in my voice" code actions for any editor.

A thin client of the daemon. The server owns the state (settings, the daemon
connection, running jobs); handlers are glue that call the pure functions in
`textops`, `actions` and `rewriting`. Logs go to stderr, a file in the state
directory and `window/logMessage`; stdout carries the protocol.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from voiced import __version__
from voiced.config import Config, ConfigError, EditorSettings, load_config
from voiced.daemon.client import DaemonClient, DaemonError, DaemonUnavailable
from voiced.lsp import inline, preview
from voiced.lsp.actions import CONTINUE, REWRITE, ActionData, build_actions, order_voices
from voiced.lsp.cancelling import Cancellation
from voiced.lsp.delivery import UNCHANGED, Generated, accept_when_seen, deliver, edit_for, plain, propose, unchanged
from voiced.lsp.proposals import Proposals
from voiced.lsp.rewriting import GuardNotes, RewriteCancelled, prose_count, rewrite_markdown
from voiced.lsp.summary import status_summary, with_versions
from voiced.lsp.textops import DocumentView, Target, at_paragraph_end, cursor_of, target_for
from voiced.paths import get_paths

log = logging.getLogger("voiced.lsp")


class UserMessage(Exception):
    """Something to tell the user (and not apply); ``level`` is an lsprotocol MessageType."""

    def __init__(self, message: str, level: types.MessageType = types.MessageType.Error) -> None:
        super().__init__(message)
        self.message = message
        self.level = level


class VoicedLanguageServer(LanguageServer):
    """The server's state: editor settings, the daemon connection, jobs in flight."""

    def __init__(self) -> None:
        super().__init__("voiced", __version__)
        self._config: tuple[float, Config] | None = None
        self.client_settings: dict[str, Any] = {}
        self._daemon: DaemonClient | None = None
        self._daemon_lock = threading.Lock()
        self.warned_base_model: set[str] = set()
        self.event_loop: asyncio.AbstractEventLoop | None = None
        self._proposals: Proposals | None = None
        self.last_text: dict[str, str] = {}  # each open document's text, for the tracker when it closes
        self.inline_running: dict[str, Cancellation] = {}  # per document: the ghost text being written
        self.inline_shown: dict[str, tuple[str, str, int]] = {}  # proposal id -> (uri, text, offset)
        self.tasks: set[asyncio.Task] = set()
        self.initialization_options: Any = None

    # --- configuration -------------------------------------------------------------

    def config(self) -> Config:
        """The configuration file, re-read when it changes (an empty config when it is missing or broken)."""
        path = get_paths().config_file
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        if self._config is None or self._config[0] != mtime:
            try:
                config = load_config(required=False)
            except ConfigError as exc:
                log.error("%s", exc)
                config = Config()
            self._config = (mtime, config)
        return self._config[1]

    @property
    def editor(self) -> EditorSettings:
        return self.config().editor

    def voices_for(self, uri: str) -> list[str]:
        """Configured voices in the order to offer them (preferred, the document's own, the rest)."""
        config = self.config()
        path = None
        if uri.startswith("file://"):
            from pygls.uris import to_fs_path

            path = to_fs_path(uri)
        own = config.voice_for_path(Path(path)) if path else None
        return order_voices(
            list(config.voices), own.name if own else None, str(self.client_settings.get("voice") or "")
        )

    def languages(self) -> set[str]:
        extra = self.client_settings.get("languages")
        languages = set(self.editor.languages)
        if isinstance(extra, list):
            languages |= {str(x) for x in extra}
        return languages

    def generation_options(self) -> dict[str, Any]:
        temperature = self.client_settings.get("temperature")
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
            return {"temperature": float(temperature)}
        return {}

    def can_resolve_edits(self) -> bool:
        caps = self.client_capabilities.text_document
        support = caps.code_action.resolve_support if caps and caps.code_action else None
        return bool(support and "edit" in support.properties)

    def supports_progress(self) -> bool:
        window = self.client_capabilities.window
        return bool(window and window.work_done_progress)

    def preview_wanted(self, original: str) -> bool:
        return preview.preview_wanted(original, self.editor, self.client_settings)

    def shows_preview_itself(self) -> bool:
        return preview.shows_preview_itself(self.initialization_options)

    def supports_annotations(self) -> bool:
        return preview.supports_annotations(self.client_capabilities)

    @property
    def proposals(self) -> Proposals:
        """The feedback of this session (created on first use, with the configured quiet interval)."""
        if self._proposals is None:
            self._proposals = Proposals(self.editor.feedback_quiet_seconds)
        return self._proposals

    # --- the daemon ----------------------------------------------------------------

    def daemon(self) -> DaemonClient:
        """The daemon connection, started on first use (blocking: call from a worker thread).

        One client for the server's life: it follows a restarted daemon by itself (``daemon.json``
        re-read on a refused connection or token), so no path keeps talking to a dead one.
        """
        with self._daemon_lock:
            if self._daemon is None:
                self._daemon = DaemonClient.connect(start_if_needed=True)
            return self._daemon

    def stop_in_daemon(self, request_id: str) -> None:
        """Forward a cancel to the daemon without blocking the caller (the event loop)."""

        def send() -> None:
            try:
                self.daemon().cancel(request_id)
            except (DaemonUnavailable, DaemonError) as exc:
                log.info("could not stop %s in the daemon: %s", request_id, exc)

        threading.Thread(target=send, name="voiced-cancel", daemon=True).start()

    # --- telling the user ----------------------------------------------------------

    def tell(self, message: str, level: types.MessageType = types.MessageType.Error) -> None:
        """Show ``message`` to the user and log it; safe from worker threads."""
        log.log(logging.ERROR if level == types.MessageType.Error else logging.INFO, message)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: hand the notifications to the event loop
            if self.event_loop is not None:
                self.event_loop.call_soon_threadsafe(self.tell_now, message, level)
            return
        self.tell_now(message, level)

    def tell_now(self, message: str, level: types.MessageType) -> None:
        self.window_show_message(types.ShowMessageParams(type=level, message=f"voiced: {message}"))
        self.window_log_message(types.LogMessageParams(type=level, message=message))


server = VoicedLanguageServer()
inline.read_partial_result_tokens(server.protocol._converter)


# --- settings: section `voiced` of workspace/configuration -----------------------------


@server.feature(types.INITIALIZE)
def initialize(ls: VoicedLanguageServer, params: types.InitializeParams) -> None:
    ls.initialization_options = params.initialization_options


@server.feature(types.INITIALIZED)
async def initialized(ls: VoicedLanguageServer, params: types.InitializedParams) -> None:
    ls.event_loop = asyncio.get_running_loop()
    _start_feedback_ticks(ls)
    await refresh_settings(ls)


def _start_feedback_ticks(ls: VoicedLanguageServer) -> None:
    """Settle quiet proposals now and then (the tracker's `tick`), for the server's life."""

    async def ticks() -> None:
        proposals = ls.proposals
        while True:
            await asyncio.sleep(proposals.tick_interval)
            proposals.tick()

    task = asyncio.ensure_future(ticks())
    ls.tasks.add(task)
    task.add_done_callback(ls.tasks.discard)


# --- the documents, followed for the feedback tracker -----------------------------------


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: VoicedLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.last_text[params.text_document.uri] = params.text_document.text


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: VoicedLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    running = ls.inline_running.pop(uri, None)
    if running is not None:  # the ghost text being written no longer fits the text
        running.cancel()
    text = ls.workspace.get_text_document(uri).source
    ls.last_text[uri] = text
    ls.proposals.changed(uri, text)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: VoicedLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.proposals.saved(uri, ls.workspace.get_text_document(uri).source)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: VoicedLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    running = ls.inline_running.pop(uri, None)
    if running is not None:
        running.cancel()
    _dismiss_shown(ls, uri)
    ls.proposals.closed(uri, ls.last_text.pop(uri, ""))


@server.feature(types.SHUTDOWN)
def shutdown(ls: VoicedLanguageServer, params: Any) -> None:
    """An editor that quits without closing its documents: settle them (kept, edited) and write the records."""
    for uri, text in list(ls.last_text.items()):
        ls.proposals.closed(uri, text)
    try:
        ls.proposals.flush()
    except Exception as exc:  # a stuck writer must not keep the editor from quitting
        log.warning("feedback not flushed at shutdown: %s", exc)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def configuration_changed(ls: VoicedLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    settings = params.settings.get("voiced") if isinstance(params.settings, dict) else None
    if isinstance(settings, dict):
        ls.client_settings = settings
    else:
        await refresh_settings(ls)


async def refresh_settings(ls: VoicedLanguageServer) -> None:
    """Ask the client for its `voiced` settings, when it can answer."""
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.configuration):
        return
    try:
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="voiced")])
        )
    except Exception as exc:  # a client may refuse; keep the defaults
        log.warning("workspace/configuration failed: %s", exc)
        return
    if result and isinstance(result[0], dict):
        ls.client_settings = result[0]


# --- code actions: titles only, at once ------------------------------------------------


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True),
)
def code_action(ls: VoicedLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    if document.language_id and document.language_id not in ls.languages():
        return None
    only = params.context.only
    if only and not any(types.CodeActionKind.RefactorRewrite.value.startswith(kind) for kind in only):
        return None
    view = DocumentView.of(document)
    target = target_for(view, params.range)
    voices = ls.voices_for(document.uri)
    if target is None or not voices:
        return None
    can_resolve = ls.can_resolve_edits()
    actions = build_actions(document.uri, document.version, target, voices, task=REWRITE, can_resolve=can_resolve)
    cursor = cursor_of(view, params.range)
    if cursor is not None and at_paragraph_end(view, cursor):
        end = types.Range(start=target.range.end, end=target.range.end)
        actions += build_actions(
            document.uri, document.version, Target(end, target.text), voices, task=CONTINUE, can_resolve=can_resolve
        )
    return actions


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve_code_action(ls: VoicedLanguageServer, action: types.CodeAction) -> types.CodeAction:
    try:
        data = ActionData.from_json(action.data)
    except ValueError as exc:
        ls.tell(str(exc))
        return action
    generated = await run_action(ls, data)
    if generated is None:
        return action
    if generated.previewed and ls.shows_preview_itself():
        await deliver(ls, generated)  # the client's own preview; the server applies what is accepted
        return action
    action.edit = edit_for(ls, generated)
    propose(ls, generated)
    accept_when_seen(ls, generated)  # the client applies a resolved edit itself (or, in a preview, may not)
    return action


# --- commands the server executes itself ----------------------------------------------


@server.command("voiced.rewrite")
async def rewrite_command(ls: VoicedLanguageServer, *args: Any) -> bool:
    return await _apply_command(ls, args)


@server.command("voiced.continue")
async def continue_command(ls: VoicedLanguageServer, *args: Any) -> bool:
    return await _apply_command(ls, args)


async def _apply_command(ls: VoicedLanguageServer, args: tuple[Any, ...]) -> bool:
    try:
        data = ActionData.from_json(args[0] if args else None)
    except ValueError as exc:
        ls.tell(str(exc))
        return False
    generated = await run_action(ls, data)
    if generated is None:
        return False
    return await deliver(ls, generated)


@server.command(inline.ACCEPTED_COMMAND)
def inline_accepted(ls: VoicedLanguageServer, *args: Any) -> bool:
    """The writer took a ghost text (all of it, or a word of it): the tracker follows it from here."""
    proposal_id = args[0] if args and isinstance(args[0], str) else ""
    shown = ls.inline_shown.pop(proposal_id, None)
    if shown is None:
        return False
    uri, _, offset = shown
    text = ls.workspace.get_text_document(uri).source
    ls.proposals.accepted(proposal_id, uri=uri, offset=offset, document_text=text)
    return True


# --- ghost-text Continue ------------------------------------------------------------------


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: VoicedLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    return await complete_inline(ls, params)


@server.feature(inline.INLINE_REQUEST)
async def inline_completion_alias(ls: VoicedLanguageServer, params: Any) -> Any:
    """``voiced/inlineCompletion``: the same, for clients whose LSP library lacks the 3.18 method."""
    try:
        structured = ls.protocol._converter.structure(plain(params), types.InlineCompletionParams)
    except Exception as exc:
        ls.tell(f"voiced/inlineCompletion: unreadable params ({exc}).", types.MessageType.Warning)
        return None
    result = await complete_inline(ls, structured)
    return ls.protocol._converter.unstructure(result, types.InlineCompletionList) if result is not None else None


async def complete_inline(
    ls: VoicedLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    """The voice's continuation at the cursor, streamed as partial results where the client gave a token.

    A new request for the document stops the one still writing; `$/cancelRequest` stops it in the daemon.
    """
    ls.event_loop = asyncio.get_running_loop()
    uri, position = params.text_document.uri, params.position
    empty = types.InlineCompletionList(items=[])
    document = ls.workspace.get_text_document(uri)
    if document.language_id and document.language_id not in ls.languages():
        return empty
    _dismiss_shown(ls, uri)
    if not inline.answers(params.context, inline.auto_trigger(ls.editor, ls.client_settings)):
        return empty
    voices = ls.voices_for(uri)
    if not voices:
        return empty
    offset, version_asked = document.offset_at_position(position), document.version
    before = inline.text_before(document.source, offset)
    if not before.strip():
        return empty
    cancel = Cancellation(ls.stop_in_daemon)
    previous = ls.inline_running.pop(uri, None)
    if previous is not None:
        previous.cancel()
    ls.inline_running[uri] = cancel
    proposal_id = uuid.uuid4().hex
    loop = ls.event_loop
    token = inline.partial_result_token(params)

    def partial(text: str) -> None:  # worker thread
        if token is not None:
            value = ls.protocol._converter.unstructure(
                inline.completion_list(text, position, proposal_id), types.InlineCompletionList
            )
            loop.call_soon_threadsafe(ls.progress, types.ProgressParams(token=token, value=value))

    options = {**ls.generation_options(), "max_tokens": ls.editor.inline_max_tokens}
    voice = voices[0]
    try:
        daemon = await asyncio.to_thread(ls.daemon)
        text = await asyncio.to_thread(inline.stream_ghost, daemon, voice, before, options, cancel, partial)
    except asyncio.CancelledError:  # $/cancelRequest: stop the daemon now, the worker stops at its next piece
        cancel.cancel()
        raise
    except RewriteCancelled:
        return empty
    except (DaemonUnavailable, DaemonError) as exc:
        ls.tell(str(exc))
        return empty
    finally:
        if ls.inline_running.get(uri) is cancel:
            del ls.inline_running[uri]
    if ls.workspace.get_text_document(uri).version != version_asked or not text.strip():
        return empty  # the writer typed on: this ghost text no longer fits
    version = await asyncio.to_thread(_quiet_version, ls, voice)
    ls.proposals.proposed(
        proposal_id, uri=uri, kind="continue", original="", proposal=text, voice=voice, adapter_version=version
    )
    ls.inline_shown[proposal_id] = (uri, text, offset)
    return inline.completion_list(text, position, proposal_id)


def _dismiss_shown(ls: VoicedLanguageServer, uri: str) -> None:
    """A new request replaces the ghost text shown in the document: not taken, so dismissed."""
    for proposal_id, (shown_uri, _, _) in list(ls.inline_shown.items()):
        if shown_uri == uri:
            del ls.inline_shown[proposal_id]
            ls.proposals.rejected(proposal_id)


def _quiet_version(ls: VoicedLanguageServer, voice: str) -> int | None:
    try:
        return active_version(ls.daemon(), voice)
    except (DaemonUnavailable, DaemonError) as exc:
        log.info("adapter version of %s: %s", voice, exc)
        return None


@server.command("voiced.status")
async def status_command(ls: VoicedLanguageServer, *args: Any) -> dict | None:
    """The daemon's status plus each voice's adapter versions (``adapters``).

    ``{"quiet": true}``: only return it (a status bar's refresh); nothing is shown to the user,
    failures included, which go to the log.
    """
    options = args[0] if args and isinstance(args[0], dict) else {}
    quiet = options.get("quiet") is True
    try:
        status = await asyncio.to_thread(lambda: _status_with_versions(ls.daemon()))
    except (DaemonUnavailable, DaemonError) as exc:
        if quiet:
            log.warning("voiced.status: %s", exc)
        else:
            ls.tell(str(exc))
        return None
    if not quiet:
        ls.tell(status_summary(status), types.MessageType.Info)
    return status


def _status_with_versions(daemon: DaemonClient) -> dict:
    """Runs in a worker thread: ``/v1/status`` and each voice's ``/v1/adapters``."""
    status = daemon.status()
    listings: dict[str, dict | None] = {}
    for voice in status.get("voices") or []:
        try:
            listings[voice] = daemon.adapters(voice)
        except DaemonError as exc:  # no registry in this build, or a broken one: the status still counts
            log.warning("adapter versions of %s: %s", voice, exc)
            listings[voice] = None
    return with_versions(status, listings)


@server.command("voiced.train")
async def train_command(ls: VoicedLanguageServer, *args: Any) -> dict | None:
    """Start training a voice in the daemon ({voice}); progress is in voiced.status."""
    options = args[0] if args and isinstance(args[0], dict) else {}
    voice = options.get("voice") or (ls.client_settings.get("voice") or None)
    progress = await _daemon_call(ls, lambda daemon: daemon.train(voice))
    if progress is not None:
        ls.tell(f"training {progress.get('voice')} started; `voiced status` shows its progress", types.MessageType.Info)
    return progress


@server.command("voiced.activate")
async def activate_command(ls: VoicedLanguageServer, *args: Any) -> dict | None:
    """Make an adapter version active ({voice, version}); the daemon swaps it in at once."""
    options = args[0] if args and isinstance(args[0], dict) else {}
    voice, version = options.get("voice") or (ls.client_settings.get("voice") or None), options.get("version")
    if not isinstance(version, int) or voice is None:
        ls.tell('voiced.activate needs {"voice": NAME, "version": NUMBER}; `voiced adapters list` shows the versions.')
        return None
    listing = await _daemon_call(ls, lambda daemon: daemon.activate(voice, version))
    if listing is not None:
        ls.tell(f"{voice}: adapter v{version} is active", types.MessageType.Info)
    return listing


@server.command("voiced.rollback")
async def rollback_command(ls: VoicedLanguageServer, *args: Any) -> dict | None:
    """Go back to the previously active adapter version ({voice}); the daemon swaps it in at once."""
    options = args[0] if args and isinstance(args[0], dict) else {}
    voice = options.get("voice") or (ls.client_settings.get("voice") or None)
    if voice is None:
        ls.tell('voiced.rollback needs {"voice": NAME}.')
        return None
    listing = await _daemon_call(ls, lambda daemon: daemon.rollback(voice))
    if listing is not None:
        active = listing.get("active")
        ls.tell(
            f"{voice}: " + (f"adapter v{active} is active again" if active else "back to the base model"),
            types.MessageType.Info,
        )
    return listing


async def _daemon_call(ls: VoicedLanguageServer, call: Any) -> Any:
    try:
        return await asyncio.to_thread(lambda: call(ls.daemon()))
    except (DaemonUnavailable, DaemonError) as exc:
        ls.tell(str(exc))
        return None


def _adapter_version(ls: VoicedLanguageServer, daemon: DaemonClient, voice: str) -> int | None:
    """The voice's active adapter version (worker thread); once per voice and session, say when there is none.

    The choice (docs/lsp.md): rewrite with the base model rather than decline, because a writer
    wants the action to work on day one; the message says how to get their voice.
    """
    version = active_version(daemon, voice)
    if version is None and voice not in ls.warned_base_model:
        ls.tell(
            f"no adapter is trained for the voice {voice!r} yet, so this rewrite comes from the base model. "
            "Run `voiced train` (or the voiced.train command) to learn your voice.",
            types.MessageType.Info,
        )
    ls.warned_base_model.add(voice)
    return version


def active_version(daemon: DaemonClient, voice: str) -> int | None:
    """The voice's active adapter version, as the registry says (through the daemon).

    Not the engine's adapter file: a voice on a Hugging Face folder serves its PEFT adapter and
    has no GGUF LoRA at all. The engine's report is the fallback for a daemon without a registry.
    """
    try:
        return daemon.adapters(voice).get("active")
    except DaemonError as exc:
        log.warning("adapter versions of %s: %s", voice, exc)
    engine = (daemon.status().get("engine") or {}).get(voice) or {}
    return engine.get("adapter_version")


# --- the work ---------------------------------------------------------------------------


async def run_action(ls: VoicedLanguageServer, data: ActionData) -> Generated | None:
    """Generate the proposal for ``data``, with cancellable progress; None when there is nothing to apply."""
    ls.event_loop = asyncio.get_running_loop()
    cancel = Cancellation(ls.stop_in_daemon)
    token = None
    try:
        document = ls.workspace.get_text_document(data.uri)
        if data.version is not None and document.version != data.version:
            raise UserMessage(
                "the document changed since the action was offered; try again.", types.MessageType.Warning
            )
        text = document.text_in_client_range(data.range) if data.task == REWRITE else _context_before(document, data)
        if len(text) > ls.editor.max_selection_chars:
            raise UserMessage(
                f"the selection is {len(text):,} characters; voiced rewrites at most "
                f"{ls.editor.max_selection_chars:,} at a time. Select less and try again.",
                types.MessageType.Warning,
            )
        offset, document_version = document.offset_at_position(data.range.start), document.version
        token = await _begin_progress(ls, data, text, cancel)
        new_text, version = await asyncio.to_thread(_generate, ls, data, text, token, cancel)
        if data.version is not None and ls.workspace.get_text_document(data.uri).version != data.version:
            raise UserMessage(
                "the document changed while voiced was writing; the result was not applied. Try again.",
                types.MessageType.Warning,
            )
        if data.task == CONTINUE:
            new_text = _join_continuation(new_text)
        original = text if data.task == REWRITE else ""
        if unchanged(original, new_text):  # nothing to propose, record or apply
            raise UserMessage(UNCHANGED, types.MessageType.Info)
        return Generated(
            data=data,
            proposal_id=uuid.uuid4().hex,
            original=original,
            text=new_text,
            offset=offset,
            adapter_version=version,
            previewed=data.task == REWRITE and ls.preview_wanted(original),
            document_version=document_version,
        )
    except asyncio.CancelledError:  # $/cancelRequest: the worker thread is still generating
        cancel.cancel()
        raise
    except RewriteCancelled:
        ls.tell("cancelled.", types.MessageType.Info)
        return None
    except UserMessage as exc:
        ls.tell(exc.message, exc.level)
        return None
    except DaemonUnavailable as exc:
        ls.tell(f"{exc}", types.MessageType.Error)
        return None
    except DaemonError as exc:
        ls.tell(f"the daemon could not do it: {exc}", types.MessageType.Error)
        return None
    finally:
        if token is not None:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
            ls.work_done_progress.tokens.pop(token, None)


async def _begin_progress(ls: VoicedLanguageServer, data: ActionData, text: str, cancel: Cancellation) -> str | None:
    if not ls.supports_progress():
        return None
    token = f"voiced-{uuid.uuid4().hex}"
    await ls.work_done_progress.create_async(token)
    title = "Rewriting in your voice" if data.task == REWRITE else "Continuing in your voice"
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0))
    future = ls.work_done_progress.tokens.get(token)
    if future is not None:
        future.add_done_callback(lambda f: cancel.cancel() if f.cancelled() else None)
    return token


def _generate(
    ls: VoicedLanguageServer, data: ActionData, text: str, token: str | None, cancel: Cancellation
) -> tuple[str, int | None]:
    """Runs in a worker thread: the daemon calls, paragraph by paragraph; the text and the adapter version."""
    daemon = ls.daemon()
    options = ls.generation_options()
    version = _adapter_version(ls, daemon, data.voice)

    def report(done: int, total: int) -> None:
        if token is None:
            return
        verb = "Rewriting" if data.task == REWRITE else "Continuing"
        message = f"{verb} {total} paragraph{'s' if total != 1 else ''}: {done}/{total}"
        value = types.WorkDoneProgressReport(
            message=message, percentage=int(100 * done / max(total, 1)), cancellable=True
        )
        loop = ls.event_loop
        assert loop is not None  # a request is being served, so the server's loop is running
        loop.call_soon_threadsafe(ls.work_done_progress.report, token, value)

    notes = GuardNotes()  # paragraphs the daemon's rewrite guard left as they were, told at the end

    def generate(piece: str) -> Iterator[str]:
        request_id = f"lsp-{uuid.uuid4().hex}"
        stream = partial(daemon.stream_rewrite, on_guard=notes.add) if data.task == REWRITE else daemon.stream_continue
        with cancel.generating(request_id):
            yield from stream(data.voice, piece, request_id=request_id, **options)

    if data.task == CONTINUE:
        report(0, 1)
        pieces = []
        for piece in generate(text):
            if cancel.is_set():
                raise RewriteCancelled()
            pieces.append(piece)
        report(1, 1)
        return "".join(pieces), version
    if prose_count(text) == 0:
        raise UserMessage(
            "there is no prose to rewrite in the selection (only headings, code or markup).", types.MessageType.Info
        )
    rewritten = rewrite_markdown(text, notes.track(generate), progress=report, cancel=cancel.event)
    if message := notes.message():
        ls.tell(message, types.MessageType.Warning if notes.left_as_they_were else types.MessageType.Info)
    return rewritten, version


def _context_before(document: Any, data: ActionData) -> str:
    """The text a continuation follows: the paragraphs before the cursor, up to a few thousand characters."""
    end = document.offset_at_position(data.range.end)
    return document.source[max(0, end - 3000) : end].lstrip()


def _join_continuation(text: str) -> str:
    text = text.strip()
    return (" " + text) if text else ""


def start_io() -> None:
    server.start_io()
