"""The daemon's inference engine: one loaded base per voice, its adapter hot-swapped.

Each voice has one worker thread that owns its model and takes requests from
a queue in order; callers on any thread just read a stream. A llama.cpp model
batches (voiced.inference.llama_batcher): up to ``n_parallel`` requests run at
once, each on a thread of its own, and their tokens are decoded together; the
transformers and MLX backends serve one request at a time. Streams yield text as it is decoded;
``rewrite`` joins the stream. Cancellation: the worker checks the caller's
``threading.Event`` between tokens and the stream then raises
:class:`GenerationCancelled` (a cancelled rewrite never looks complete).
Abandoning a stream (closing the generator) cancels its request too.

A new adapter is swapped in by the worker between requests: the requests in
flight finish on the old adapter (the batch drains: llama.cpp sets an adapter
for the whole context), the next ones wait for the swap and use the new
adapter, and the base weights are not reloaded.

Which adapter: the registry's active version, whoever changed it. Before each
request the worker stats the active pointer (``voiced.inference.active_adapter``)
and re-reads the registry when it changed; ``Engine.refresh`` re-reads it at
once. The backend picks the version's artifact for its runtime. A damaged
active adapter is not loaded: the base model serves, every response and the
status say so, and a damaged GGUF LoRA whose PEFT source is intact is rebuilt
on a background thread, then swapped in.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from voiced.config import Config, InferenceSettings
from voiced.inference import active_adapter
from voiced.inference.active_adapter import Choice, FixedSource, RegistrySource
from voiced.inference.generation import (
    EmptyText,
    EngineError,
    GenerationCancelled,
    GenerationParams,
    ModelLoadError,
    UnknownVoice,
)
from voiced.inference.markdown_chunks import render_stream, split_long, split_markdown, until_blank_line
from voiced.inference.rewrite_guard import GuardLimits, GuardReport, guarded
from voiced.inference.voice_examples import VoiceExamples, fit_examples
from voiced.inference.voice_status import Rebuild, VoiceStatus
from voiced.models import ModelNotFound, resolve_base_model
from voiced.paths import Paths
from voiced.prompts import continue_messages, rewrite_messages

log = logging.getLogger("voiced.daemon")

__all__ = [
    "Engine",
    "EngineError",
    "EngineStream",
    "EmptyText",
    "GenerationCancelled",
    "GenerationParams",
    "ModelLoadError",
    "UnknownVoice",
]

_END = object()
_WAKE = object()
_STOP = object()
_UNSET = object()
_REFRESH = object()  # a pending "swap" that re-reads the registry instead of naming a file

Work = Callable[[Any, threading.Event], Iterator[str]]


def _open_backend(spec: str, settings: InferenceSettings):
    """Pick the runtime for a base model: llama.cpp for GGUF, mlx-lm on Apple Silicon, else transformers."""
    from voiced.inference import hf_backend, llama_backend

    try:
        ref = resolve_base_model(spec)
    except ModelNotFound as exc:
        raise ModelLoadError(str(exc), fix="Fix `base_model` of the voice in the config.") from exc
    threads = settings.n_threads or None
    if ref.kind == "gguf":
        return llama_backend.LlamaBackend(
            ref.path, n_ctx=settings.n_ctx, n_threads=threads, n_parallel=settings.n_parallel
        )
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
    notice: str | None = None  # set by the worker before the first piece: why the base model serves it

    def stopped(self) -> bool:
        return self.abandoned.is_set() or (self.cancel is not None and self.cancel.is_set())


class _WorkerClosed(Exception):
    """The worker was let go (its voice removed or its base model changed) before the job was queued."""


@dataclass(frozen=True)
class Served:
    """What a loaded voice serves: the adapter's version and file (None: the base), what the registry
    named at the last check, and why they differ when they do."""

    version: int | None = None
    artifact: Path | None = None
    registry_version: int | None = None
    notice: str | None = None


class _VoiceWorker:
    """One voice's model, its adapter, and the thread that runs its requests in order."""

    def __init__(self, voice: str, base_model: str, settings: InferenceSettings, source) -> None:
        self.voice = voice
        self.base_model = base_model
        self.settings = settings
        self.load_settings = _load_settings(settings)
        self.source = source
        self.backend = None
        self._inflight = 0  # requests running now (several at once on a batching backend)
        self._inflight_changed = threading.Condition()
        self.served = Served()
        self.rebuild: dict[str, Any] | None = None  # {"version", "state": running|done|failed, "reason"}
        self._override: Any = _UNSET  # set_adapter before the model is loaded
        self._stale = False  # re-read the registry before the next request (a rebuild finished)
        self._rebuilt: set[int] = set()  # versions already rebuilt once: never loop on a bad source
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
                try:
                    if self._override is not _UNSET:
                        self._load(backend, Choice(active_adapter.version_of(self._override), self._override))
                    else:
                        self._follow(backend, force=True)
                except BaseException:
                    backend.close()
                    raise
                self.backend = backend
            return self.backend

    # -- which adapter ----------------------------------------------------

    def _follow(self, backend, *, force: bool = False) -> None:
        """Serve the registry's active version if it changed (or ``force``); on the worker thread or at load."""
        if not (force or self._stale or self.source.changed()):
            return
        self._stale = False
        choice = self.source.resolve(backend.runtime)
        if self.source.follows_registry:
            self._load_or_fall_back(backend, choice)
        else:
            self._load(backend, choice)

    def _load(self, backend, choice: Choice) -> None:
        """Put ``choice`` on the backend (errors propagate; the old adapter stays)."""
        if choice.artifact is not None or self.served.artifact is not None or backend.adapter_path is not None:
            backend.set_adapter(choice.artifact)
        self.served = Served(
            choice.version if choice.artifact is not None else None, choice.artifact, choice.version, choice.notice
        )

    def _load_or_fall_back(self, backend, choice: Choice) -> None:
        """The registry's choice, or the base model with a notice when its adapter will not load."""
        if choice.notice is not None or self.served.notice is not None:
            log.warning("voice %s: %s", self.voice, choice.notice or "the active adapter is usable again")
        try:
            self._load(backend, choice)
        except Exception as exc:  # noqa: BLE001 - a runtime refusing the file: the base model serves instead
            log.error("voice %s: adapter v%s refused: %s", self.voice, choice.version, exc)
            problem = str(exc).split("\n")[0].rstrip(".")
            # llama.cpp refusing a GGUF LoRA that looked whole (wrong shapes, say): rebuilt like a damaged one
            version = choice.version
            if (
                version is not None
                and backend.runtime == "llama.cpp"
                and version not in self._rebuilt
                and self.source.can_rebuild(version)
            ):
                self._load(backend, Choice(version, None, active_adapter.damaged_notice(version, problem, True)))
                self._start_rebuild(version, backend.base_path)
            else:
                self._load(backend, Choice(version, None, active_adapter.unloadable_notice(version, problem)))
            return
        if choice.repairable and choice.version is not None:
            self._start_rebuild(choice.version, backend.base_path)

    def _start_rebuild(self, version: int, base_gguf: Path) -> None:
        if version in self._rebuilt:  # once per version: a source that yields a bad file again is reported
            if (self.rebuild or {}).get("state") != "running":
                self.served = replace(
                    self.served,
                    notice=active_adapter.rebuild_failed_notice(
                        version, (self.rebuild or {}).get("reason") or "the rebuilt file was found damaged again"
                    ),
                )
            return
        self._rebuilt.add(version)
        self.rebuild = {"version": version, "state": "running", "reason": None}
        threading.Thread(
            target=self._rebuild, args=(version, base_gguf), name=f"voiced-rebuild-{self.voice}", daemon=True
        ).start()

    def _rebuild(self, version: int, base_gguf: Path) -> None:
        """Background: write the GGUF LoRA anew from the PEFT adapter, then have the worker re-read the registry."""
        found = self.source.version(version)
        try:
            if found is None:
                raise FileNotFoundError(f"v{version} is no longer in the registry")
            path = self.source.rebuild(found, base_gguf)
        except Exception as exc:  # noqa: BLE001 - reported in status and in every notice
            log.error("voice %s: the GGUF LoRA of v%s could not be rebuilt: %s", self.voice, version, exc)
            self.rebuild = {"version": version, "state": "failed", "reason": str(exc)}
            if self.served.registry_version == version and self.served.artifact is None:
                self.served = replace(self.served, notice=active_adapter.rebuild_failed_notice(version, str(exc)))
            return
        log.info("voice %s: rebuilt %s from the PEFT adapter", self.voice, path)
        self.rebuild = {"version": version, "state": "done", "reason": None}
        self._stale = True
        with self._queue_lock:
            if not self._closed:
                self._jobs.put(_WAKE)  # swapped in now, not only at the next request

    def refresh(self) -> None:
        """Re-read the registry now (between requests); nothing to do before the model is loaded."""
        self.swap(_REFRESH)

    # -- requests ---------------------------------------------------------

    def submit(self, work: Work, cancel: threading.Event | None) -> EngineStream:
        job = _Job(work, cancel)
        with self._queue_lock:
            if self._closed:
                raise _WorkerClosed(self.voice)
            self._jobs.put(job)
        return EngineStream(job)

    def swap(self, adapter: Any) -> None:
        """Swap now if nothing is loaded, else between requests on the worker; waits for it."""
        with self._load_lock:
            if self.backend is None:
                if adapter is not _REFRESH:
                    self._override = adapter
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
                if self._pending_swap is _REFRESH:
                    self._follow(self.backend, force=True)
                else:
                    self._load(self.backend, Choice(active_adapter.version_of(self._pending_swap), self._pending_swap))
            except BaseException as exc:  # reported to the caller of swap(); the old adapter stays
                self._swap_error = exc
            self._pending_swap = _UNSET
            self._swap_done.notify_all()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if self.backend is not None and self._pending_swap is not _UNSET:
                self._drain()
                self._apply_pending_swap()
            if job is _STOP:
                self._drain()
                return
            if job is _WAKE or job.stopped():
                if job is not _WAKE:
                    job.out.put(_END)
                elif self.backend is not None and self._stale:
                    self._drain()
                    self._guarded_follow(None)
                continue
            try:
                backend = self.ensure_loaded()
                if self._pending_swap is not _UNSET:
                    self._drain()
                    self._apply_pending_swap()
                if self._stale or self.source.changed():
                    self._drain()  # the adapter changes only between requests: the ones running finish first
                self._guarded_follow(job)
                job.notice = self.served.notice
            except BaseException as exc:  # handed to the reader, never kills the worker
                job.out.put(exc)
                continue
            self._start(job, backend)

    def _start(self, job: _Job, backend) -> None:
        """Run the job beside those in flight when the backend batches (once a slot is free), else here."""
        parallel = getattr(backend, "parallel", 1)
        with self._inflight_changed:
            while self._inflight >= parallel:
                self._inflight_changed.wait()
            self._inflight += 1
        if parallel <= 1:
            self._serve(job, backend)
            return
        name = f"voiced-request-{self.voice}"
        threading.Thread(target=self._serve, args=(job, backend), name=name, daemon=True).start()

    def _serve(self, job: _Job, backend) -> None:
        try:
            pieces = job.work(backend, _JobStop(job))
            try:
                for piece in pieces:
                    if job.stopped():
                        break
                    job.out.put(piece)
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()  # a generator left early: its backend stream leaves the batch
            job.out.put(_END)
        except BaseException as exc:  # handed to the reader, never kills the worker
            job.out.put(exc)
        finally:
            with self._inflight_changed:
                self._inflight -= 1
                self._inflight_changed.notify_all()

    def _drain(self) -> None:
        """Wait until no request is in flight: the swap point of a batching backend."""
        with self._inflight_changed:
            while self._inflight:
                self._inflight_changed.wait()

    @property
    def busy(self) -> bool:
        return self._inflight > 0

    def _guarded_follow(self, job: _Job | None) -> None:
        """Follow the registry; with a caller-named adapter a failure fails the request, as it did at load."""
        try:
            self._follow(self.backend)
        except BaseException:
            if job is None:
                log.exception("voice %s: re-reading the adapter registry failed", self.voice)
                return
            raise

    def close(self) -> None:
        """Stop after the jobs already queued; the model is freed."""
        with self._queue_lock:
            self._closed = True
            self._jobs.put(_STOP)
        self._thread.join()
        if self.backend is not None:
            self.backend.close()
            self.backend = None


class EngineStream:
    """The pieces of one request, and the notice its worker attached (why the base model served it).

    ``notice`` is known once the first piece has arrived."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._pieces = _read(job)

    def __iter__(self) -> EngineStream:
        return self

    def __next__(self) -> str:
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()

    @property
    def notice(self) -> str | None:
        return self._job.notice


def _read(job: _Job) -> Generator[str, None, None]:
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


class _JobStop(threading.Event):
    """An event the backends poll between tokens: set when the caller cancels or walks away."""

    def __init__(self, job: _Job) -> None:
        super().__init__()
        self._job = job

    def is_set(self) -> bool:
        return self._job.stopped()


class Engine:
    """Serves rewrites, continuations and chat turns for every configured voice."""

    def __init__(
        self,
        config: Config,
        *,
        adapter_resolver: Callable[[str], Path | None] | None = None,
        paths: Paths | None = None,
        rebuild_gguf: active_adapter.Rebuild | None = None,
    ) -> None:
        """Without ``adapter_resolver`` each voice serves its registry's active version and follows it;
        with one (tests, the evaluation) the resolver names each voice's adapter file once, at load.
        ``rebuild_gguf`` (the trainer's exporter, voiced.trainer.serving) rebuilds a damaged GGUF LoRA from
        its intact PEFT adapter; without it a damaged one is reported and the base model serves."""
        self.config = config
        self._resolve_adapter = adapter_resolver
        self._rebuild_gguf = rebuild_gguf
        self._paths = paths
        self._workers: dict[str, _VoiceWorker] = {}
        self._lock = threading.Lock()
        self._examples = VoiceExamples(lambda: self.config, paths)  # [inference] voice_examples

    @property
    def settings(self) -> InferenceSettings:
        """The ``[inference]`` settings as they are now: the daemon's config watch may replace them."""
        return self.config.inference

    # -- models -----------------------------------------------------------

    def _worker(self, voice: str) -> _VoiceWorker:
        if voice not in self.config.voices:
            known = ", ".join(self.config.voices) or "none"
            raise UnknownVoice(
                f"There is no voice named {voice!r} (configured: {known}).",
                fix="Use one of the configured voices, or create it with `voiced voices create`.",
            )
        with self._lock:
            worker = self._workers.get(voice)
            if worker is None:
                source = (
                    FixedSource(voice, self._resolve_adapter)
                    if self._resolve_adapter is not None
                    else RegistrySource(
                        voice, self._paths, self._rebuild_gguf, base_model=self.config.voices[voice].base_model
                    )
                )
                worker = _VoiceWorker(voice, self.config.voices[voice].base_model, self.settings, source)
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
            raise ModelLoadError(
                f"The adapter {gguf_lora} does not exist.",
                fix="Check the registry's version folder, or re-export the adapter.",
            )
        self._worker(voice).swap(Path(gguf_lora) if gguf_lora is not None else None)

    def refresh(self, voice: str) -> VoiceStatus:
        """Serve the registry's active version of ``voice`` now (the CLI and the manage API call this after
        changing the registry; changes nobody reports are noticed at the next request anyway).

        Returns once done, with the voice's status: ``adapter_version`` is what is served, ``notice`` says
        why it is the base model when the registry names a version that cannot be used. A voice whose
        model is not loaded reads the registry when it loads.
        """
        self._worker(voice).refresh()
        return self.status()[voice]

    def release_stale(self) -> list[str]:
        """Let go of the models of voices no longer configured, or whose base model or load settings
        (``n_ctx``, ``n_threads``) changed: the next request loads them anew. Requests already queued
        on them finish first; the models are closed on a thread of their own, so the caller (the
        config watch) never waits on a rewrite. Returns the voices released."""
        with self._lock:
            stale = [
                name
                for name, worker in self._workers.items()
                if name not in self.config.voices
                or self.config.voices[name].base_model != worker.base_model
                or _load_settings(self.settings) != worker.load_settings
            ]
            workers = [self._workers.pop(name) for name in stale]
        for worker in workers:
            threading.Thread(target=worker.close, name=f"voiced-release-{worker.voice}", daemon=True).start()
        return stale

    def status(self) -> dict[str, VoiceStatus]:
        """Per voice, what is served now and what the registry named at the last check (VoiceStatus):
        the daemon's /v1/status shows it as it is."""
        out: dict[str, VoiceStatus] = {}
        for name, voice in self.config.voices.items():
            worker = self._workers.get(name)
            backend = worker.backend if worker else None
            served = worker.served if backend is not None else Served()
            rebuild = worker.rebuild if worker else None
            out[name] = VoiceStatus(
                loaded=backend is not None,
                backend=backend.kind if backend else None,
                base_model=str(backend.base_path) if backend else voice.base_model,
                adapter=str(served.artifact) if served.artifact else None,
                adapter_version=served.version,
                registry_version=served.registry_version,
                registry_changed=bool(
                    worker is not None
                    and backend is not None
                    and worker.source.follows_registry
                    and worker.source.changed()
                ),
                notice=served.notice,
                rebuild=Rebuild(rebuild["version"], rebuild["state"], rebuild.get("reason")) if rebuild else None,
                queue_depth=worker.queue_depth if worker else 0,
                busy=worker.busy if worker else False,
            )
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

    def stream_rewrite(
        self,
        voice: str,
        text: str,
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None,
        on_guard: Callable[[GuardReport], None] | None = None,
    ) -> Iterator[str]:
        """The text rewritten in the voice, paragraph by paragraph, Markdown structure kept as it is.

        With ``[inference] guard`` on, each paragraph is held until the rewrite guard has judged it
        (voiced.inference.rewrite_guard); ``on_guard`` hears of each paragraph it cleaned, retried, found
        unchanged or left as it was, before that paragraph's text is yielded."""
        _require_text(text)
        self._worker(voice)  # an unknown voice is reported before anything else
        system_prompt = self.config.voices[voice].system_prompt
        requested = params or GenerationParams()
        resolved = requested.resolved(self.settings)
        max_chars = self.settings.max_chunk_chars
        cap = self.config.daemon.max_tokens
        guard, paragraphs = _guard(self.settings, on_guard), itertools.count(1)
        k = self.settings.voice_examples

        def work(backend, stop: threading.Event) -> Iterator[str]:
            piece_params = resolved
            if requested.draft_anchor is None:  # the configured hold: firmer for the base model than an adapter
                trained = backend.adapter_path is not None
                anchor = self.settings.draft_anchor if trained else self.settings.draft_anchor_base
                piece_params = replace(resolved, draft_anchor=anchor)
            for segment in split_markdown(text):
                if not segment.is_prose:
                    yield segment.source
                    continue
                pieces = [p.strip() for p in split_long(segment.text, max_chars)]
                yield from render_stream(
                    segment,
                    _joined(
                        _rewrite_piece(
                            backend,
                            system_prompt,
                            piece,
                            piece_params,
                            cap,
                            stop,
                            guard and partial(guard, paragraph=next(paragraphs)),
                            examples=self._examples.choose(voice, piece, k),
                        )
                        for piece in pieces
                    ),
                )

        return self._submit(voice, work, cancel)

    def rewrite(
        self,
        voice: str,
        text: str,
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None,
        on_guard: Callable[[GuardReport], None] | None = None,
    ) -> str:
        return "".join(self.stream_rewrite(voice, text, params, cancel, on_guard))

    def stream_continue(
        self, voice: str, text: str, params: GenerationParams | None = None, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        """What the writer might write next, in the voice."""
        _require_text(text)
        self._worker(voice)  # an unknown voice is reported before anything else
        messages = continue_messages(self.config.voices[voice].system_prompt, text)
        return self._submit_chat(voice, messages, params, cancel)

    def stream_chat(
        self,
        voice: str,
        messages: list[dict],
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """One assistant turn for OpenAI-style messages; the voice's system prompt leads when none is given."""
        messages = _check_messages(messages)
        self._worker(voice)
        if messages[0]["role"] != "system":
            messages = [{"role": "system", "content": self.config.voices[voice].system_prompt}, *messages]
        return self._submit_chat(voice, messages, params, cancel)

    def _submit(self, voice: str, work: Work, cancel: threading.Event | None) -> EngineStream:
        """Queue ``work`` on the voice's worker; if that worker was just let go, on its successor."""
        try:
            return self._worker(voice).submit(work, cancel)
        except _WorkerClosed:
            return self._worker(voice).submit(work, cancel)

    def _submit_chat(
        self,
        voice: str,
        messages: list[dict[str, str]],
        params: GenerationParams | None,
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        resolved = (params or GenerationParams()).resolved(self.settings)
        wanted = min(resolved.max_tokens or self.settings.continue_tokens, self.config.daemon.max_tokens)

        def work(backend, stop: threading.Event) -> Iterator[str]:
            room = backend.n_ctx - backend.prompt_tokens(messages)
            yield from backend.stream_chat(messages, resolved, _fit(wanted, room), stop)

        return self._submit(voice, work, cancel)


def _rewrite_piece(
    backend,
    system_prompt: str,
    text: str,
    params: GenerationParams,
    cap: int,
    stop: threading.Event,
    guard: Callable[..., Iterator[str]] | None = None,
    examples: list[str] | tuple[str, ...] = (),
) -> Iterator[str]:
    """One paragraph (or piece of one) rewritten; its length budget comes from its own tokens, and it ends
    where the model leaves the paragraph (a blank line after a third of the input's length, at least),
    whether or not it ends its turn there. ``guard`` (see ``_guard``) judges it before it is yielded.
    ``examples`` (the writer's passages, best first) go into the prompt as far as the context leaves room
    for the paragraph's whole rewrite; the last are dropped first."""
    tokens = backend.count_tokens(text)
    wanted = params.rewrite_budget(tokens, cap=cap)
    examples = fit_examples(
        examples,
        lambda chosen: backend.n_ctx - backend.prompt_tokens(rewrite_messages(system_prompt, text, chosen)) >= wanted,
    )
    messages = rewrite_messages(system_prompt, text, examples)
    room = backend.n_ctx - backend.prompt_tokens(messages)
    budget = params.rewrite_budget(tokens, cap=_fit(cap, room))

    # Anchored to the paragraph being rewritten (voiced.inference.draft_anchor) when the strength is set.
    anchored = {"anchor_text": text} if params.draft_anchor else {}

    def attempt(attempt_params: GenerationParams) -> Iterator[str]:
        return until_blank_line(
            backend.stream_chat(messages, attempt_params, budget, stop, **anchored), min_chars=len(text) // 3
        )

    if guard is None:
        return attempt(params)
    # A budget lowered below what the paragraph needs (the request's max_tokens) asked for a partial rewrite.
    assert params.max_tokens_factor is not None and params.max_tokens_extra is not None  # resolved params
    whole = budget >= int(params.max_tokens_factor * tokens) + params.max_tokens_extra
    return guard(text, attempt, params, stop=stop, check_length=whole)


def _guard(settings: InferenceSettings, report: Callable[[GuardReport], None] | None):
    """rewrite_guard.guarded with the configured limits, or None when ``[inference] guard`` is off."""
    if not settings.guard:
        return None
    return partial(
        guarded,
        limits=GuardLimits.from_settings(settings),
        retries=settings.guard_retries,
        retry_temperature=settings.guard_retry_temperature,
        report=report,
    )


def _joined(streams: Iterator[Iterator[str]]) -> Iterator[str]:
    """Pieces of consecutive rewrites of one paragraph, separated by a space."""
    for index, stream in enumerate(streams):
        if index:
            yield " "
        yield from stream


def _load_settings(settings: InferenceSettings) -> tuple[int, int, int]:
    """The settings a model is opened with; the others apply to each request."""
    return settings.n_ctx, settings.n_threads, settings.n_parallel


def _fit(wanted: int, room: int) -> int:
    if room < 1:
        raise EngineError(
            "The text is too long for the model's context window.",
            fix="Send a shorter passage, or raise `inference.n_ctx` in the config.",
        )
    return max(1, min(wanted, room))


def _require_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise EmptyText(
            "There is no text to work on: the request's text is empty.",
            fix="Select the passage to rewrite, then ask again.",
        )


def _check_messages(messages: list[dict]) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise EmptyText("The chat request has no messages.", fix="Send at least one user message.")
    checked = []
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ("system", "user", "assistant")
            or not isinstance(message.get("content"), str)
        ):
            raise EngineError(
                f"Invalid chat message {message!r}.",
                fix="Each message needs a role (system, user or assistant) and text content.",
            )
        checked.append({"role": message["role"], "content": message["content"]})
    if not any(m["role"] == "user" and m["content"].strip() for m in checked):
        raise EmptyText("The chat request has no user text.", fix="Send at least one non-empty user message.")
    return checked
