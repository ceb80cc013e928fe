"""One whole training job: corpus -> dataset -> train -> GGUF LoRA -> evaluation gate -> registry.

``run_training_job`` does the work in this process. ``run_training_job_in_child``
runs it in a child process at low priority (``python -m voiced.daemon.training_job``),
reading its progress as JSON lines, so a crash, an out-of-memory kill or a
``kill -9`` leaves the caller, the registry and the active adapter untouched:
the version the child was writing is marked failed and the reason reported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiced.config import Config, ConfigError, load_config
from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths
from voiced.private_files import open_private

if TYPE_CHECKING:
    from voiced.trainer.tokenize import FitReport

Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]


class JobError(VoicedError):
    """A training job that could not run or finish, saying what to do; the active adapter is unchanged."""


@dataclass
class JobResult:
    """What a job did: the version it wrote and whether the gate promoted it."""

    voice: str
    version: int | None
    status: str  # active | rejected | failed
    reason: str
    scores: dict[str, Any] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    stopped: str = ""  # how training ended (completed, max_steps, cancelled, ...)

    @property
    def promoted(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def _ignore(_event: dict) -> None:
    return None


def _never() -> bool:
    return False


# ---------------------------------------------------------------- what the manifest records


def corpus_snapshot(documents: list[Any]) -> dict[str, Any]:
    """Documents, passages, words and a digest of exactly which passages were read."""
    digest = hashlib.sha256()
    passages = words = 0
    for document in sorted(documents, key=lambda d: d.path):
        digest.update(document.path.encode("utf-8") + b"\0")
        for passage in document.passages:
            digest.update(passage.hash.encode("ascii") + b"\n")
            passages += 1
            words += passage.words
    return {"documents": len(documents), "passages": passages, "words": words, "digest": digest.hexdigest()}


def example_counts(dataset: Any, fitted: dict[str, Any]) -> dict[str, Any]:
    """Per split: examples built, by task and by shape, and how many fit the token limit."""
    out = {}
    for split, rows in dataset.examples.items():
        kept, report = fitted.get(split, ([], None))
        out[split] = {
            "examples": len(rows),
            "tasks": dict(Counter(ex.task for ex in rows)),
            "shapes": dict(Counter(ex.shape for ex in rows)),
            "tokenized": len(kept),
            "shortened": getattr(report, "shortened", 0),
            "dropped": getattr(report, "dropped", 0),
        }
    return out


# ---------------------------------------------------------------- the job, in this process


class _Job:
    """The steps of one job; each failure after the version exists marks it failed with the reason."""

    def __init__(
        self,
        config: Config,
        voice_name: str | None,
        overrides: dict[str, Any],
        progress: Progress,
        should_stop: ShouldStop,
        paths: Paths,
    ) -> None:
        self.config, self.paths = config, paths
        self.voice = config.voice(voice_name)
        # Validated as the file is: an unknown or out-of-range override is a ConfigError naming training.KEY.
        self.settings = dataclasses.replace(config.training, **overrides)
        self.progress, self.should_stop = progress, should_stop
        self.durations: dict[str, float] = {}
        self.phases: list[dict[str, Any]] = []  # {"phase", "seconds"} in the order they ran
        self.model_loads = 0  # base models loaded for training and the NLL gate (one per job)
        self.base_nll_source = ""  # how the gate got the base model's test NLL (voiced.trainer.nll_cache)
        self.base_rewrites_source = ""  # how the voice gate got the base model's rewrites (evaluation.rewrite_cache)
        self.ref: Any = None  # the base model's reference and info (voiced.trainer.base_model), once identified
        self.info: Any = None
        self.plan: Any = None  # the memory plan the base was loaded by (voiced.trainer.memory_plan), once loaded
        self.plan_followed = ""  # the plan the trainer followed (its start event), when it says one
        self.started = time.monotonic()

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """A "phase" event as the phase starts, "phase_done" with its seconds when it ends."""
        self.progress({"event": "phase", "phase": name})
        started = time.monotonic()
        yield
        self._phase_done(name, started)

    def _phase_done(self, name: str, started: float) -> None:
        """Record a phase that began at ``started`` (monotonic): its seconds, and the "phase_done" event."""
        seconds = round(time.monotonic() - started, 3)
        self.durations[name] = round(self.durations.get(name, 0.0) + seconds, 3)
        self.phases.append({"phase": name, "seconds": seconds})
        self.progress({"event": "phase_done", "phase": name, "seconds": seconds})

    def _summary(self) -> dict[str, Any]:
        """The "phases" event: every phase with its seconds, the total, and what the job loaded and reused."""
        return {
            "event": "phases",
            "phases": list(self.phases),
            "total": self.durations["total"],
            "model_loads": self.model_loads,
            "base_nll": self.base_nll_source,
            **({"base_rewrites": self.base_rewrites_source} if self.base_rewrites_source else {}),
        }

    def run(self) -> JobResult:
        from voiced.registry import Registry

        registry = Registry.open(self.voice.name, self.paths)
        self._reference(registry)  # a damaged active PEFT adapter is said first, not after the whole budget
        with self._phase("dataset"):
            dataset, snapshot = self._dataset()
            ref, info = self._base()
        self.ref, self.info = ref, info

        with self._phase("load"):
            model, tokenizer, device = self._load(ref)
        with self._phase("tokenize"):
            fitted, test = self._tokenize(tokenizer, dataset)

        version = registry.begin_version(
            {
                "base_model": info.to_dict(),
                "corpus": snapshot,
                "examples": example_counts(dataset, fitted),
                "hyperparameters": dataclasses.asdict(self.settings),
                "backend": self._backend(),
                "device": device,
            }
        )
        self.progress({"event": "version", "version": version.number})
        try:
            return self._train_and_gate(registry, version, ref, model, fitted, test, dataset)
        except BaseException as exc:
            reason = _failure_reason(exc)
            if registry.get(version.number).manifest.status == "training":
                registry.mark_failed(version.number, reason)
            if _expected(exc) and not isinstance(exc, JobError):
                raise JobError(reason) from exc
            raise

    def _trainer_progress(self, event: dict[str, Any]) -> None:
        """The trainer's events, passed on; the start event's memory plan (made for the real longest
        example, where the load's was made for the longest allowed) is the one the run followed."""
        if event.get("event") == "start" and event.get("memory_plan"):
            self.plan_followed = str(event["memory_plan"])
        self.progress(event)

    def _dataset(self) -> tuple[Any, dict[str, Any]]:
        from voiced.corpus.store import CorpusStore
        from voiced.trainer.dataset import CorpusTooSmall, build_voice_dataset

        with CorpusStore.open(self.paths) as store:
            snapshot = corpus_snapshot(list(store.documents_with_passages(self.voice.name)))
        try:
            dataset, _files = build_voice_dataset(self.config, self.voice.name, self.paths)
        except CorpusTooSmall as exc:
            raise JobError(str(exc)) from exc
        return dataset, snapshot

    def _base(self) -> tuple[Any, Any]:
        from voiced.models import ModelNotFound, resolve_base_model
        from voiced.trainer.base_model import BaseModelError, base_model_info
        from voiced.trainer.gguf_lora import gguf_lora_unsupported_reason

        try:
            ref = resolve_base_model(self.voice.base_model)
            info = base_model_info(ref)
        except (ModelNotFound, BaseModelError) as exc:
            raise JobError(
                f"The base model {self.voice.base_model!r} of voice {self.voice.name!r} cannot be used: {exc}"
            ) from exc
        # A GGUF base is served by llama.cpp only: refuse before training what could not be served after it.
        unservable = gguf_lora_unsupported_reason(info.architecture) if ref.kind == "gguf" else None
        if unservable:
            raise JobError(
                f"Voice {self.voice.name!r} cannot be trained on {self.voice.base_model!r}: {unservable}, so "
                "llama.cpp could not serve the adapter.",
                "Choose a base that `voiced models` marks as served, or the Hugging Face folder of this model "
                "(served by transformers).",
            )
        return ref, info

    def _backend(self) -> str:
        from voiced.trainer.backends import backend_name

        return backend_name(self.settings.backend)

    def _load(self, ref: Any) -> tuple[Any, Any, str]:
        """The base model, loaded once, as the memory plan says (4-bit for QLoRA on a small GPU): PEFT trains
        on it and the gate scores with it. The plan is said before the load and kept for the manifest."""
        from voiced.trainer.base_model import BaseModelError
        from voiced.trainer.peft_backend import is_out_of_memory, load_for_training, pick_torch_device, set_threads
        from voiced.trainer.results import TrainingError

        device = pick_torch_device(self.settings.device)
        set_threads(self.settings)
        try:
            model, tokenizer, self.plan = load_for_training(
                ref, self.settings, device, self.config.dataset.max_example_tokens, self.progress
            )
            self.model_loads += 1
            self.tokenizer = tokenizer  # the preference stage tokenizes its pairs with it
        except (BaseModelError, TrainingError) as exc:  # a base that will not load, or will not fit: no version yet
            raise JobError(exc.message, exc.fix) from exc
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            raise JobError(
                f"Out of memory while loading the base model {ref.spec!r}; close other programs "
                "or choose a smaller base model."
            ) from exc
        return model, tokenizer, device

    def _tokenize(self, tokenizer: Any, dataset: Any) -> tuple[dict[str, Any], list[Any]]:
        """Every split fitted to the token limit; the gate scores the rewrite examples of the test split."""
        from voiced.trainer.tokenize import tokenize_dataset, tokenize_examples

        limit = self.config.dataset.max_example_tokens
        fitted: dict[str, tuple[list[Any], FitReport | None]] = {**tokenize_dataset(tokenizer, dataset, limit)}
        if self.settings.lm_warmup_fraction > 0:  # the writer's training prose, for the language-modelling stage
            from voiced.trainer.prose import prose_examples

            fitted["prose"] = (prose_examples(tokenizer, dataset, limit), None)
        rewrites = [ex for ex in dataset.examples.get("test", []) if ex.task == "rewrite"]
        test, _report = tokenize_examples(tokenizer, rewrites, limit)
        return fitted, test

    def _train_and_gate(
        self, registry: Any, version: Any, ref: Any, model: Any, fitted: dict[str, Any], test: list[Any], dataset: Any
    ) -> JobResult:
        from voiced.evaluation.feedback_gate import hold_for_feedback
        from voiced.registry import runtime_for_base
        from voiced.trainer.gate import run_gate
        from voiced.trainer.training import train

        spec = model if self._backend() == "peft" else self.voice.base_model
        work = registry.work_dir(version)
        with self._phase("train"):
            result = train(
                spec,
                fitted["train"][0],
                fitted["valid"][0],
                self.settings,
                work,
                self._trainer_progress,
                self.should_stop,
                prose=fitted.get("prose", ([], None))[0],
            )
        if result.stopped == "cancelled":
            raise JobError("Training was cancelled; the active adapter is unchanged.")
        if result.adapter_dir is None:
            raise JobError("Training ended without an adapter (no step completed).")
        adapter_dir = self._as_peft(result, ref)
        preference = self._preference(model, adapter_dir, work)
        if preference.ran and preference.adapter_dir is not None:  # its adapter is the candidate from here on
            adapter_dir = preference.adapter_dir
            result = dataclasses.replace(result, adapter_dir=adapter_dir, adapter_format="peft")

        with self._phase("export"):
            gguf_path, notes = self._gguf(adapter_dir, ref, work)
            mlx_dir = self._mlx(result, adapter_dir, ref, work)
            _check_written(adapter_dir, gguf_path, mlx_dir)

        with self._phase("gate"):
            active, reference_note = self._reference(registry)
            if reference_note:
                notes.append(reference_note)
            adapters = self.config.adapters
            gate = run_gate(
                model,
                test,
                adapter_dir,
                active_dir=active.path if active else None,
                active_version=active.number if active else None,
                margin=adapters.gate_min_margin,
                batch_size=adapters.gate_batch_size,
                base=self._base_nll(ref, model, test),
            )
            gate = dataclasses.replace(gate, base_source=self.base_nll_source)
            if reference_note:
                gate = dataclasses.replace(gate, reason=f"{gate.reason} ({reference_note})")
        mode = self.config.evaluation.gate_mode
        if mode == "voice" or (gate.promote and mode == "nll+voice"):
            runtime = runtime_for_base(ref.kind)
            candidate = {"llama.cpp": gguf_path, "transformers": adapter_dir, "mlx": mlx_dir}[runtime]
            reference = active.artifact(runtime) if active else None
            with self._phase("gate-voice"):
                gate = (
                    self._promote_voice(gate, dataset, candidate, reference, reference_note)
                    if mode == "voice"
                    else self._voice_gate(gate, dataset, candidate, reference)
                )
        with self._phase("record"):
            gate = hold_for_feedback(gate, self.voice.name, self.config.evaluation, self.paths)
            self.progress({"event": "gate", "promote": gate.promote, "reason": gate.reason, "scores": gate.scores})
            outcome = self._record(
                registry, version, ref, adapter_dir, gguf_path, mlx_dir, gate, notes, result, preference
            )
        self.durations["total"] = round(time.monotonic() - self.started, 3)
        self.progress(self._summary())
        return dataclasses.replace(outcome, durations=dict(self.durations))

    def _base_nll(self, ref: Any, model: Any, test: list[Any]) -> Any:
        """The base model's test NLL: from the cache when it holds this very test split and base, else
        computed on the loaded model and stored (voiced.trainer.nll_cache)."""
        from voiced.trainer import nll_cache
        from voiced.trainer.gate import NllScore, response_nll

        if not test:
            return None
        batch_size = self.config.adapters.gate_batch_size
        parameter = next(model.parameters())
        key = nll_cache.cache_key(
            ref, self.info, test, batch_size=batch_size, device=str(parameter.device), dtype=str(parameter.dtype)
        )
        path = nll_cache.cache_path(self.paths, self.voice.name)
        cached, how = nll_cache.lookup(path, key, test)
        if cached is not None:
            score = NllScore(cached.nll, cached.tokens, cached.examples)
        else:
            score = response_nll(model, test, batch_size=batch_size)
            try:
                nll_cache.store(path, key, score.nll, score.tokens, score.examples)
            except OSError as exc:  # a cache that cannot be written only costs the next run the same work
                self.progress({"event": "warning", "message": f"the base model's test NLL was not cached: {exc}"})
        self.base_nll_source = how
        self.progress({"event": "base_nll", "source": how, "nll": score.nll, "tokens": score.tokens})
        return score

    def _record(
        self,
        registry: Any,
        version: Any,
        ref: Any,
        adapter_dir: Path,
        gguf_path: Path | None,
        mlx_dir: Path | None,
        gate: Any,
        notes: list[str],
        result: Any,
        preference: Any,
    ) -> JobResult:
        """The version's files and manifest into the registry, activated if the gate promoted it. The
        manifest's durations end here (its "total" is the job until now); the job's result adds "record"."""
        from voiced.registry import runtime_for_base

        self.durations["total"] = round(time.monotonic() - self.started, 3)
        status = "candidate" if gate.promote else "rejected"
        if self.plan is not None:
            loaded = self.plan.describe()
            followed = self.plan_followed if self.plan_followed not in ("", loaded) else ""
            notes = [f"memory plan: {loaded}" + (f"; in training: {followed}" if followed else ""), *notes]
        finished = registry.finish_version(
            version,
            adapter_dir,
            gguf_path,
            mlx_dir=mlx_dir,
            manifest_changes={
                "status": status,
                "reason": gate.reason,
                "scores": gate.to_dict(),
                "notes": notes,
                "losses": {
                    "train": [[i + 1, loss] for i, loss in enumerate(result.train_losses)],
                    "valid": [[step, loss] for step, loss in result.valid_losses],
                },
                "training": {
                    "stopped": result.stopped,
                    "steps": result.steps,
                    "total_steps": result.total_steps,
                    "best_step": result.best_step,
                    "best_valid_loss": result.best_valid_loss,
                    "learning_rate": result.learning_rate,
                    "tokens": result.tokens,
                    "tokens_per_second": round(result.tokens_per_second, 2),
                    "dtype": result.dtype,
                },
                "device": result.device,
                "backend": result.backend,
                "durations": self.durations,
                "preference": preference.to_dict(),
            },
        )
        if gate.promote:
            registry.activate(finished.number, runtime=runtime_for_base(ref.kind))
        return JobResult(
            self.voice.name,
            finished.number,
            "active" if gate.promote else "rejected",
            gate.reason,
            gate.to_dict(),
            dict(self.durations),
            result.stopped,
        )

    def _preference(self, model: Any, adapter_dir: Path, work: Path) -> Any:
        """The optional DPO stage on the writer's feedback pairs (voiced.trainer.preference); skipped with
        too few pairs or when off, and then the supervised adapter stays the candidate."""
        started = time.monotonic()
        outcome = run_preference_stage(
            self.settings,
            self.voice,
            self.paths,
            model,
            getattr(self, "tokenizer", None),
            adapter_dir,
            work / "preference",
            max_length=self.config.dataset.max_example_tokens,
            progress=self.progress,
            should_stop=self.should_stop,
        )
        if outcome.ran:  # its "phase" event comes from run_preference_stage, which may skip the stage
            self._phase_done("preference", started)
        if outcome.stopped == "cancelled":
            raise JobError("Training was cancelled; the active adapter is unchanged.")
        return outcome

    def _voice_gate(self, gate: Any, dataset: Any, candidate: Path | None, reference: Path | None) -> Any:
        """The "nll+voice" mode: a candidate the NLL gate promotes must not sound less like the writer.

        ``candidate`` and ``reference`` are what the daemon's runtime for this
        base loads (a GGUF LoRA, a PEFT or an MLX folder; None: the base model).
        """
        from voiced.evaluation.run import held_out_passages, writer_profile
        from voiced.evaluation.voice_gate import voice_regression
        from voiced.inference.engine import Engine

        settings = self.config.evaluation
        if candidate is None:
            return dataclasses.replace(
                gate,
                promote=False,
                reason=f"{gate.reason}; no adapter for the daemon's runtime to check the voice with",
            )
        with Engine(self.config) as engine:
            passes, why, towards = voice_regression(
                engine,
                self.voice.name,
                held_out_passages(dataset, settings.passages),
                writer_profile(dataset),
                settings,
                candidate,
                reference,
            )
        return dataclasses.replace(gate, promote=passes, reason=f"{gate.reason}; {why}", towards_writer=towards)

    def _promote_voice(
        self, gate: Any, dataset: Any, candidate: Path | None, reference: Path | None, reference_note: str | None
    ) -> Any:
        """The "voice" mode: promote only if the candidate's rewrites of held-out drafts beat the reference's
        (voiced.evaluation.voice_gate); the NLL just scored is its guard, not its criterion."""
        from voiced.evaluation.rewrite_cache import BaseRewrites
        from voiced.evaluation.voice_gate import run_voice_gate
        from voiced.inference.engine import Engine
        from voiced.inference.rewrite_guard import GuardLimits
        from voiced.trainer import nll_cache

        if candidate is None:
            return dataclasses.replace(
                gate,
                promote=False,
                reason="The new voice has no adapter file the "
                "daemon's runtime can load, so its rewrites could not be tested.",
            )
        label = f"the active v{gate.active_version}" if "active" in gate.scores else "the base model"
        nll = {
            "reference": gate.scores.get("active", gate.scores.get("base")),
            "candidate": gate.scores.get("candidate"),
        }
        # Judged as served: the rewrite guard on (when the writer has it on), so a rewrite it would reject
        # counts as the draft given back, and one it would clean counts as cleaned.
        served = self.config
        base_rewrites = None
        if reference is None:  # the base model's side: the same greedy rewrites of the same drafts every run
            settings = self.config.evaluation
            # Quoted voice examples come from the training split, which the key does not name: no cache then.
            uncached = served.inference.voice_examples > 0 or self.info is None
            base_rewrites = BaseRewrites.for_job(
                self.paths,
                self.voice.name,
                None if uncached else nll_cache.base_identity(self.ref, self.info),
                {"temperature": 0.0, "seed": settings.seed, "max_tokens": settings.max_tokens},
                {
                    **dataclasses.asdict(served.inference),
                    "system_prompt": self.voice.system_prompt,
                    "daemon_max_tokens": served.daemon.max_tokens,
                },
            )
        with Engine(served, adapter_resolver=lambda _voice: None) as engine:
            decision = run_voice_gate(
                engine,
                self.voice.name,
                dataset,
                self.config.evaluation,
                candidate=candidate,
                reference=reference,
                reference_label=label,
                nll=nll if None not in nll.values() else None,
                limits=GuardLimits.from_settings(self.config.inference),
                structural_noise=self.config.dataset.structural_noise,
                base_rewrites=base_rewrites,
            )
        if base_rewrites is not None:
            for note in base_rewrites.notes:
                self.progress({"event": "warning", "message": note})
            self.base_rewrites_source = f"{base_rewrites.hits} draft set(s) from the cache, {base_rewrites.misses} made"
            self.progress({"event": "base_rewrites", "cached": base_rewrites.hits, "made": base_rewrites.misses})
        reason = f"{decision.reason} ({reference_note})" if reference_note else decision.reason
        figures = decision.to_dict()
        if self.base_rewrites_source:
            figures["base_rewrites"] = self.base_rewrites_source
        return dataclasses.replace(gate, promote=decision.promote, reason=reason, voice=figures)

    def _reference(self, registry: Any) -> tuple[Any, str | None]:
        """The active version the gate compares with, or None (the base model) when its PEFT adapter is damaged
        or it was trained on another base than the voice's now (after `voiced models use`).

        A damaged PEFT source cannot be scored or rebuilt; refusing to train
        would block every later run (nightly ones too) until the writer acts,
        so the candidate must instead beat the base model, as a first version
        does, and the job says which file is broken.
        """
        from voiced.models import same_base
        from voiced.registry import CorruptAdapter

        active = registry.active()
        if active is None:
            return None, None
        trained_on = active.manifest.base_model.id
        if trained_on and not same_base(trained_on, self.voice.base_model):
            # an adapter fits only the weights it was trained on: on the new base it is no reference at all
            note = (
                f"the active v{active.number} was trained on base {trained_on!r}, not on the voice's base "
                f"{self.voice.base_model!r}; the candidate was compared with the base model instead"
            )
            self.progress({"event": "warning", "message": note})
            return None, note
        try:
            active.validate("transformers")
        except CorruptAdapter as exc:
            note = (
                f"the active v{active.number} cannot be the reference: {exc.message} "
                "The candidate was compared with the base model instead"
            )
            self.progress({"event": "warning", "message": note})
            return None, note
        return active, None

    @staticmethod
    def _as_peft(result: Any, ref: Any) -> Path:
        """MLX adapters are converted to the PEFT source of truth before anything else reads them."""
        if result.adapter_format == "peft":
            return Path(result.adapter_dir)
        from voiced.trainer import mlx_convert

        out = Path(result.adapter_dir).parent / "peft"
        return mlx_convert.mlx_to_peft(Path(result.adapter_dir), out, ref.spec)

    @staticmethod
    def _mlx(result: Any, adapter_dir: Path, ref: Any, work: Path) -> Path | None:
        """The mlx-lm adapter a non-GGUF base is served with on Apple Silicon (mlx_lm.load reads no PEFT
        folder): the one MLX trained, or converted from PEFT here. GGUF bases are served by llama.cpp."""
        if ref.kind == "gguf":
            return None
        if result.adapter_format == "mlx":
            return Path(result.adapter_dir)
        from voiced.trainer.base_model import base_model_info
        from voiced.trainer.mlx_convert import peft_to_mlx

        return peft_to_mlx(adapter_dir, work / "mlx", base_model_info(ref).n_layers)

    @staticmethod
    def _gguf(adapter_dir: Path, ref: Any, work: Path) -> tuple[Path | None, list[str]]:
        """The llama.cpp LoRA, for GGUF bases (the daemon's runtime); other bases are served by transformers."""
        from voiced.trainer.gguf_lora import export_gguf_lora

        if ref.kind != "gguf":
            return None, [f"no GGUF LoRA: the base {ref.spec!r} is not a GGUF model"]
        return export_gguf_lora(adapter_dir, ref.path, work / "adapter.gguf"), []


def run_preference_stage(
    settings: Any,
    voice: Any,
    paths: Paths,
    model: Any,
    tokenizer: Any,
    adapter_dir: Path,
    out_dir: Path,
    *,
    max_length: int,
    progress: Progress = _ignore,
    should_stop: ShouldStop = _never,
) -> Any:
    """The voice's preference pairs from the feedback store, and DPO on them when there are enough
    (:func:`voiced.trainer.preference.train_preference`); a skipped stage says why in its result."""
    from voiced.corpus.feedback import preference_pairs
    from voiced.trainer.preference import PreferenceResult, skip_reason, train_preference

    pairs = [] if settings.preference_stage == "off" else preference_pairs(paths, voice.name)
    reason = skip_reason(settings, len(pairs))
    if reason is not None:
        return PreferenceResult(False, reason, len(pairs), adapter_dir=adapter_dir)
    progress({"event": "phase", "phase": "preference"})
    return train_preference(
        model,
        tokenizer,
        adapter_dir,
        pairs,
        settings,
        out_dir,
        system_prompt=voice.system_prompt,
        max_length=max_length,
        progress=progress,
        should_stop=should_stop,
    )


def _check_written(adapter_dir: Path, gguf_path: Path | None, mlx_dir: Path | None) -> None:
    """Every adapter file just written must read back before it goes into the registry."""
    from voiced.adapter_check import AdapterDamaged, check_gguf_lora, check_mlx_folder, check_peft_folder

    try:
        check_peft_folder(adapter_dir)
        if gguf_path is not None:
            check_gguf_lora(gguf_path)
        if mlx_dir is not None:
            check_mlx_folder(mlx_dir)
    except AdapterDamaged as exc:
        raise JobError(
            f"The adapter just written is unreadable ({exc}); nothing was activated. "
            "Check the disk (`df`, `dmesg`) and train again."
        ) from exc


def _expected(exc: BaseException) -> bool:
    """Failures the product explains (the CLI prints the reason, no traceback)."""
    from voiced.registry import RegistryError
    from voiced.trainer.gguf_lora import GGUFExportError
    from voiced.trainer.results import TrainingError

    return isinstance(exc, (JobError, TrainingError, RegistryError, GGUFExportError)) or _out_of_memory(exc)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "training was interrupted (Ctrl-C)"
    if _out_of_memory(exc):  # raised outside the training loop, e.g. while the gate scores
        return (
            "Out of memory; close other programs, or lower `training.batch_size` or "
            f"`dataset.max_example_tokens`, and train again ({str(exc) or type(exc).__name__})"
        )
    if _expected(exc):
        return str(exc) or type(exc).__name__
    return f"unexpected error: {type(exc).__name__}: {exc}"


def _out_of_memory(exc: BaseException) -> bool:
    """``is_out_of_memory``, without importing torch for a job that never loaded it."""
    if "torch" not in sys.modules:
        return isinstance(exc, MemoryError)
    from voiced.trainer.peft_backend import is_out_of_memory

    return is_out_of_memory(exc)


def run_training_job(
    config: Config,
    voice_name: str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    paths: Paths | None = None,
) -> JobResult:
    """Train a new version of a voice's adapter and promote it if the gate says it is better.

    ``overrides`` replaces fields of ``config.training`` (e.g. ``{"max_steps": 20}``).
    Raises :class:`JobError` for expected failures (corpus too small, base model
    missing, out of memory, disk full, cancelled); the active adapter is never
    changed unless the new version is promoted.
    """
    from voiced.trainer.voice_lock import TrainingRunning, training_lock

    job = _Job(
        config, voice_name, dict(overrides or {}), progress or _ignore, should_stop or _never, paths or get_paths()
    )
    try:
        with training_lock(job.voice.name, job.paths):  # for the whole run: one run per voice at a time
            return job.run()
    except TrainingRunning as exc:  # as this module's JobError: the child runs it as __main__
        raise JobError(str(exc)) from exc


# ---------------------------------------------------------------- the job, in a child process


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name}, signal {number}"
    except ValueError:
        return f"signal {number}"


def run_training_job_in_child(
    voice_name: str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    niceness: int | None = None,
    paths: Paths | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> JobResult:
    """Run :func:`run_training_job` in ``python -m voiced.daemon.training_job`` at low priority.

    The child reads the configuration itself (the same VOICED_HOME), streams
    progress dicts as JSON lines, and sends its result last. ``should_stop``
    is polled between lines; when it turns true the child is asked to stop
    (SIGTERM), which cancels training cleanly. A child that dies (killed, out
    of memory, crashed) yields a failed :class:`JobResult`; its version is
    marked failed and the active adapter is untouched. Expected errors raise
    :class:`JobError` here as in-process.
    """
    paths = paths or get_paths()
    progress = progress or _ignore
    should_stop = should_stop or _never
    if niceness is None:
        niceness = load_config(paths).adapters.child_niceness
    paths.ensure_private(paths.logs_dir)
    voice = load_config(paths).voice(voice_name).name
    log_path = paths.logs_dir / f"train-{voice}.log"
    command = [
        sys.executable,
        "-m",
        "voiced.daemon.training_job",
        "--voice",
        voice,
        "--niceness",
        str(niceness),
        "--overrides",
        json.dumps(overrides or {}),
    ]
    from voiced.trainer import lifeline

    log_fd = open_private(log_path, os.O_WRONLY | os.O_TRUNC)
    try:  # the child dies with this process (and this thread): never an orphan that keeps training
        child = lifeline.spawn(command, stdout=subprocess.PIPE, stderr=log_fd, text=True, env=os.environ.copy())
    finally:
        os.close(log_fd)
    if on_start is not None:
        on_start(child)
    version: int | None = None
    outcome: dict[str, Any] | None = None
    stop_sent = False
    assert child.stdout is not None
    for line in child.stdout:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "progress":
            event = message["event"]
            if event.get("event") == "version":
                version = event["version"]
            progress(event)
        elif message.get("type") in ("result", "error"):
            outcome = message
        if not stop_sent and should_stop():
            child.send_signal(signal.SIGTERM)
            stop_sent = True
    code = child.wait()
    lifeline.release(child)
    if outcome is not None and outcome["type"] == "result":
        return JobResult.from_dict(outcome["result"])
    if outcome is not None and outcome["type"] == "error":
        raise JobError(outcome["message"])
    return _child_died(voice, version, code, log_path, paths)


def _child_died(voice: str, version: int | None, code: int, log_path: Path, paths: Paths) -> JobResult:
    """Record a child that ended without a result; its version (if it had one) becomes failed."""
    from voiced.registry import Registry

    how = f"training was killed ({_signal_name(-code)})" if code < 0 else f"training crashed (exit status {code})"
    reason = f"{how}; the active adapter is unchanged"
    if code >= 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        if tail:
            reason += f". Last lines of {log_path}: " + " | ".join(tail)
    registry = Registry.open(voice, paths)  # marks the dead child's "training" version failed
    if version is not None and registry.get(version).manifest.status in ("training", "failed"):
        registry.mark_failed(version, reason)
    return JobResult(voice, version, "failed", reason)


def _child_main(argv: list[str] | None = None) -> int:
    """The child: lower its priority, run the job, speak JSON lines on the original stdout."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m voiced.daemon.training_job")
    parser.add_argument("--voice")
    parser.add_argument("--niceness", type=int, default=0)
    parser.add_argument("--overrides", default="{}")
    parser.add_argument("--parent", type=int, help="die when this process dies (voiced.trainer.lifeline)")
    parser.add_argument("--lifeline", action="store_true", help="stdin is the parent's lifeline pipe")
    args = parser.parse_args(argv)
    from voiced.trainer import lifeline

    lifeline.arm(args.parent, sys.stdin.fileno() if args.lifeline else None)
    if args.niceness > 0:
        os.nice(args.niceness)
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to the log, never into the protocol

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message, default=str) + "\n")

    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))
    try:
        config = load_config()
        result = run_training_job(
            config,
            args.voice,
            overrides=json.loads(args.overrides),
            progress=lambda event: send({"type": "progress", "event": event}),
            should_stop=lambda: stop["requested"],
        )
    except (JobError, ConfigError) as exc:
        send({"type": "error", "message": str(exc)})
        return 1
    send({"type": "result", "result": result.to_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
