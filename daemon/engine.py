"""The daemon's inference engine: one loaded base per voice, its adapter hot-swapped.

Each voice has one worker thread that owns its model and takes requests from
a queue in order, so a model never runs two generations at once and callers
on any thread just read a stream. Streams yield text as it is decoded;
``rewrite`` joins the stream. Cancellation: the worker checks the caller's
``threading.Event`` between tokens and the stream then raises
:class:`GenerationCancelled` (a cancelled rewrite never looks complete).
Abandoning a stream (closing the generator) cancels its request too.

A new adapter is swapped in by the worker between two requests: the request
in flight finishes on the old adapter, the next one uses the new adapter,
and the base weights are not reloaded.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiced.config import Config, InferenceSettings
from voiced.daemon.generation import (
    EmptyText, EngineError, GenerationCancelled, GenerationParams, ModelLoadError, UnknownVoice,
)
from voiced.daemon.markdown_chunks import render_stream, split_long, split_markdown, until_blank_line
from voiced.models import ModelNotFound, resolve_base_model
from voiced.prompts import continue_messages, rewrite_messages

__all__ = [
    "Engine", "EngineError", "EmptyText", "GenerationCancelled", "GenerationParams",
    "ModelLoadError", "UnknownVoice",
]

_END = object()
_WAKE = object()
_STOP = object()
_UNSET = object()

Work = Callable[[Any, threading.Event], Iterator[str]]


def registry_resolver(voice: str) -> Path | None:
    """The voice's active GGUF LoRA according to the adapter registry (None: the base model)."""
    from voiced.trainer.registry import Registry

    active = Registry.open(voice, recover=False).active()
    if active is None or not active.gguf_path.is_file():
        return None
    return active.gguf_path


def _open_backend(spec: str, settings: InferenceSettings):
    """Pick the runtime for a base model: llama.cpp for GGUF, mlx-lm on Apple Silicon, else transformers."""
    from voiced.daemon import hf_backend, llama_backend

    try:
        ref = resolve_base_model(spec)
    except ModelNotFound as exc:
        raise ModelLoadError(str(exc), fix="Fix `base_model` of the voice in the config.") from exc
    threads = settings.n_threads or None
    if ref.kind == "gguf":
        return llama_backend.LlamaBackend(ref.path, n_ctx=settings.n_ctx, n_threads=threads)
    if _apple_silicon():
        return hf_backend.MlxBackend(ref.location, n_ctx=settings.n_ctx, n_threads=threads)
    return hf_backend.TransformersBackend(ref.location, n_ctx=settings.n_ctx, n_threads=threads)


def _apple_silicon() -> bool:
    import platform

    return platform.system() == "Darwin" and platform.machine() == "arm64"


@dataclass
class _Job:
    work: Work
    cancel: threading.Event | None
    out: queue.Queue = field(default_factory=queue.Queue)
    abandoned: threading.Event = field(default_factory=threading.Event)

    def stopped(self) -> bool:
        return self.abandoned.is_set() or (self.cancel is not None and self.cancel.is_set())


class _WorkerClosed(Exception):
    """The worker was let go (its voice removed or its base model changed) before the job was queued."""


class _VoiceWorker:
    """One voice's model, its adapter, and the thread that runs its requests in order."""

    def __init__(self, voice: str, base_model: str, settings: InferenceSettings, adapter: Path | None) -> None:
        self.voice = voice
        self.base_model = base_model
        self.settings = settings
        self.load_settings = _load_settings(settings)
        self.backend = None
        self.busy = False
        self._adapter = adapter
        self._pending_swap: Any = _UNSET
        self._swap_done = threading.Condition()
        self._swap_error: BaseException | None = None
        self._load_lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        # Held while a job is queued and while closing, so no job lands behind _STOP and waits forever.
        self._queue_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"voiced-engine-{voice}", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        return self._jobs.qsize()

    def ensure_loaded(self):
        with self._load_lock:
            if self.backend is None:
                backend = _open_backend(self.base_model, self.settings)
                if self._adapter is not None:
                    try:
                        backend.set_adapter(self._adapter)
                    except BaseException:
                        backend.close()
                        raise
                self.backend = backend
            return self.backend

    def submit(self, work: Work, cancel: threading.Event | None) -> Iterator[str]:
        job = _Job(work, cancel)
        with self._queue_lock:
            if self._closed:
                raise _WorkerClosed(self.voice)
            self._jobs.put(job)
        return self._read(job)

    @staticmethod
    def _read(job: _Job) -> Iterator[str]:
        try:
            while True:
                item = job.out.get()
                if job.cancel is not None and job.cancel.is_set():
                    raise GenerationCancelled("The request was cancelled.")
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.abandoned.set()

    def swap(self, adapter: Path | None) -> None:
        """Swap now if nothing is loaded, else between requests on the worker; waits for it."""
        with self._load_lock:
            if self.backend is None:
                self._adapter = adapter
                return
        with self._swap_done:
            with self._queue_lock:
                if self._closed:  # let go meanwhile: the next worker reads the registry itself
                    return
                self._pending_swap = adapter
                self._swap_error = None
                self._jobs.put(_WAKE)
            while self._pending_swap is not _UNSET:
                self._swap_done.wait()
            if self._swap_error is not None:
                raise self._swap_error

    def _apply_pending_swap(self) -> None:
        with self._swap_done:
            if self._pending_swap is _UNSET:
                return
            try:
                self.backend.set_adapter(self._pending_swap)
                self._adapter = self._pending_swap
            except BaseException as exc:  # reported to the caller of swap(); the old adapter stays
                self._swap_error = exc
            self._pending_swap = _UNSET
            self._swap_done.notify_all()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if self.backend is not None:
                self._apply_pending_swap()
            if job is _STOP:
                return
            if job is _WAKE or job.stopped():
                if job is not _WAKE:
                    job.out.put(_END)
                continue
            self.busy = True
            try:
                backend = self.ensure_loaded()
                self._apply_pending_swap()
                with contextlib.closing(job.work(backend, _JobStop(job))) as pieces:
                    for piece in pieces:
                        if job.stopped():
                            break
                        job.out.put(piece)
                job.out.put(_END)
            except BaseException as exc:  # handed to the reader, never kills the worker
                job.out.put(exc)
            finally:
                self.busy = False

    def close(self) -> None:
        """Stop after the jobs already queued; the model is freed."""
        with self._queue_lock:
            self._closed = True
            self._jobs.put(_STOP)
        self._thread.join()
        if self.backend is not None:
            self.backend.close()
            self.backend = None


class _JobStop(threading.Event):
    """An event the backends poll between tokens: set when the caller cancels or walks away."""

    def __init__(self, job: _Job) -> None:
        super().__init__()
        self._job = job

    def is_set(self) -> bool:
        return self._job.stopped()


class Engine:
    """Serves rewrites, continuations and chat turns for every configured voice."""

    def __init__(self, config: Config, *, adapter_resolver: Callable[[str], Path | None] | None = None) -> None:
        self.config = config
        self._resolve_adapter = adapter_resolver or registry_resolver
        self._workers: dict[str, _VoiceWorker] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> InferenceSettings:
        """The ``[inference]`` settings as they are now: the daemon's config watch may replace them."""
        return self.config.inference

    # -- models -----------------------------------------------------------

    def _worker(self, voice: str) -> _VoiceWorker:
        if voice not in self.config.voices:
            known = ", ".join(self.config.voices) or "none"
            raise UnknownVoice(f"There is no voice named {voice!r} (configured: {known}).",
                               fix="Use one of the configured voices, or create it with `voiced voices create`.")
        with self._lock:
            worker = self._workers.get(voice)
            if worker is None:
                try:
                    adapter = self._resolve_adapter(voice)
                except EngineError:
                    raise
                except Exception as exc:  # e.g. an unreadable registry: say so rather than guess
                    raise ModelLoadError(f"Cannot tell which adapter voice {voice!r} should use: {exc}",
                                         fix="Run `voiced doctor`, or check the adapter registry's files.") from exc
                worker = _VoiceWorker(voice, self.config.voices[voice].base_model, self.settings,
                                      Path(adapter) if adapter else None)
                self._workers[voice] = worker
            return worker

    def load(self, voice: str) -> None:
        """Load the voice's base (and active adapter) now rather than on its first request."""
        self._worker(voice).ensure_loaded()

    def set_adapter(self, voice: str, gguf_lora: Path | None) -> None:
        """Make ``gguf_lora`` the voice's adapter (None: the base alone) without reloading the base.

        Returns once the swap is done; a request in flight finishes on the old adapter.
        """
        if gguf_lora is not None and not Path(gguf_lora).exists():
            raise ModelLoadError(f"The adapter {gguf_lora} does not exist.",
                                 fix="Check the registry's version folder, or re-export the adapter.")
        self._worker(voice).swap(Path(gguf_lora) if gguf_lora is not None else None)

    def release_stale(self) -> list[str]:
        """Let go of the models of voices no longer configured, or whose base model or load settings
        (``n_ctx``, ``n_threads``) changed: the next request loads them anew. Requests already queued
        on them finish first; the models are closed on a thread of their own, so the caller (the
        config watch) never waits on a rewrite. Returns the voices released."""
        with self._lock:
            stale = [name for name, worker in self._workers.items()
                     if name not in self.config.voices or self.config.voices[name].base_model != worker.base_model
                     or _load_settings(self.settings) != worker.load_settings]
            workers = [self._workers.pop(name) for name in stale]
        for worker in workers:
            threading.Thread(target=worker.close, name=f"voiced-release-{worker.voice}", daemon=True).start()
        return stale

    def status(self) -> dict[str, dict[str, Any]]:
        """Per voice: loaded, backend, base model, adapter path and version, queue depth, busy."""
        out: dict[str, dict[str, Any]] = {}
        for name, voice in self.config.voices.items():
            worker = self._workers.get(name)
            backend = worker.backend if worker else None
            adapter = worker._adapter if worker else None
            out[name] = {
                "loaded": backend is not None,
                "backend": backend.kind if backend else None,
                "base_model": str(backend.base_path) if backend else voice.base_model,
                "adapter": str(adapter) if adapter else None,
                "adapter_version": _version_of(adapter),
                "queue_depth": worker.queue_depth if worker else 0,
                "busy": worker.busy if worker else False,
            }
        return out

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------

    def stream_rewrite(self, voice: str, text: str, params: GenerationParams | None = None,
                       cancel: threading.Event | None = None) -> Iterator[str]:
        """The text rewritten in the voice, paragraph by paragraph, Markdown structure kept as it is."""
        _require_text(text)
        self._worker(voice)  # an unknown voice is reported before anything else
        system_prompt = self.config.voices[voice].system_prompt
        resolved = (params or GenerationParams()).resolved(self.settings)
        max_chars = self.settings.max_chunk_chars
        cap = self.config.daemon.max_tokens

        def work(backend, stop: threading.Event) -> Iterator[str]:
            for segment in split_markdown(text):
                if not segment.is_prose:
                    yield segment.source
                    continue
                pieces = [p.strip() for p in split_long(segment.text, max_chars)]
                yield from render_stream(segment, _joined(
                    _rewrite_piece(backend, system_prompt, piece, resolved, cap, stop) for piece in pieces))

        return self._submit(voice, work, cancel)

    def rewrite(self, voice: str, text: str, params: GenerationParams | None = None,
                cancel: threading.Event | None = None) -> str:
        return "".join(self.stream_rewrite(voice, text, params, cancel))

    def stream_continue(self, voice: str, text: str, params: GenerationParams | None = None,
                        cancel: threading.Event | None = None) -> Iterator[str]:
        """What the writer might write next, in the voice."""
        _require_text(text)
        self._worker(voice)  # an unknown voice is reported before anything else
        messages = continue_messages(self.config.voices[voice].system_prompt, text)
        return self._submit_chat(voice, messages, params, cancel)

    def stream_chat(self, voice: str, messages: list[dict], params: GenerationParams | None = None,
                    cancel: threading.Event | None = None) -> Iterator[str]:
        """One assistant turn for OpenAI-style messages; the voice's system prompt leads when none is given."""
        messages = _check_messages(messages)
        self._worker(voice)
        if messages[0]["role"] != "system":
            messages = [{"role": "system", "content": self.config.voices[voice].system_prompt}, *messages]
        return self._submit_chat(voice, messages, params, cancel)

    def _submit(self, voice: str, work: Work, cancel: threading.Event | None) -> Iterator[str]:
        """Queue ``work`` on the voice's worker; if that worker was just let go, on its successor."""
        try:
            return self._worker(voice).submit(work, cancel)
        except _WorkerClosed:
            return self._worker(voice).submit(work, cancel)

    def _submit_chat(self, voice: str, messages: list[dict[str, str]],
                     params: GenerationParams | None, cancel: threading.Event | None) -> Iterator[str]:
        resolved = (params or GenerationParams()).resolved(self.settings)
        wanted = min(resolved.max_tokens or self.settings.continue_tokens, self.config.daemon.max_tokens)

        def work(backend, stop: threading.Event) -> Iterator[str]:
            room = backend.n_ctx - backend.prompt_tokens(messages)
            yield from backend.stream_chat(messages, resolved, _fit(wanted, room), stop)

        return self._submit(voice, work, cancel)


def _rewrite_piece(backend, system_prompt: str, text: str, params: GenerationParams, cap: int,
                   stop: threading.Event) -> Iterator[str]:
    """One paragraph (or piece of one) rewritten; its length budget comes from its own tokens, and it ends
    where the model leaves the paragraph (a blank line after a third of the input's length, at least),
    whether or not it ends its turn there."""
    messages = rewrite_messages(system_prompt, text)
    room = backend.n_ctx - backend.prompt_tokens(messages)
    budget = params.rewrite_budget(backend.count_tokens(text), cap=_fit(cap, room))
    return until_blank_line(backend.stream_chat(messages, params, budget, stop), min_chars=len(text) // 3)


def _joined(streams: Iterator[Iterator[str]]) -> Iterator[str]:
    """Pieces of consecutive rewrites of one paragraph, separated by a space."""
    for index, stream in enumerate(streams):
        if index:
            yield " "
        yield from stream


def _load_settings(settings: InferenceSettings) -> tuple[int, int]:
    """The settings a model is opened with; the others apply to each request."""
    return settings.n_ctx, settings.n_threads


def _fit(wanted: int, room: int) -> int:
    if room < 1:
        raise EngineError("The text is too long for the model's context window.",
                          fix="Send a shorter passage, or raise `inference.n_ctx` in the config.")
    return max(1, min(wanted, room))


def _require_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise EmptyText("There is no text to work on: the request's text is empty.",
                        fix="Select the passage to rewrite, then ask again.")


def _check_messages(messages: list[dict]) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise EmptyText("The chat request has no messages.", fix="Send at least one user message.")
    checked = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant") \
                or not isinstance(message.get("content"), str):
            raise EngineError(f"Invalid chat message {message!r}.",
                              fix="Each message needs a role (system, user or assistant) and text content.")
        checked.append({"role": message["role"], "content": message["content"]})
    if not any(m["role"] == "user" and m["content"].strip() for m in checked):
        raise EmptyText("The chat request has no user text.", fix="Send at least one non-empty user message.")
    return checked


def _version_of(adapter: Path | None) -> int | None:
    """The registry version number from a path like .../versions/<n>/adapter.gguf."""
    if adapter is None:
        return None
    parts = Path(adapter).parts
    for before, after in zip(parts, parts[1:]):
        if before == "versions" and after.isdigit():
            return int(after)
    return None
