"""The contract of a version's ``manifest.json``: typed fields, read leniently, the file kept as written.

The registry's writers (``begin_version``, ``finish_version``, ``mark_failed``,
the pointer's copies) write plain JSON objects, as they always have; readers
get a :class:`Manifest`. A manifest is the record of one run, so one missing or
wrong-typed field must not hide the rest, nor crash `voiced status` or the
daemon: such a field reads as its default and is named in
:attr:`Manifest.problems`. The status is the one field with a consequence: a
manifest without a usable status reads as "failed", so it is never served.

The JSON object itself is kept as read (:meth:`Manifest.to_dict`): keys this
version does not know (written by a newer or an older voiced, see
:attr:`Manifest.extra`) and damaged values survive every rewrite untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

SCHEMA = 1
NO_STATUS = "its manifest records no valid status"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def _is_number_map(value: Any) -> bool:
    return _is_object(value) and all(_is_number(v) for v in value.values())


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_points(value: Any) -> bool:
    """Loss curves: ``[[step, loss], ...]``."""
    return isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and _is_int(p[0]) and _is_number(p[1]) for p in value
    )


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


class _Reader:
    """Takes typed values out of one JSON object, noting each one that is not what the writers write."""

    def __init__(self, raw: Any, where: str, problems: dict[str, str]) -> None:
        self.where, self.problems = where, problems
        if raw is not None and not _is_object(raw):
            problems[where.rstrip(".") or "manifest"] = f"is {_shown(raw)}, not an object; read as empty"
            raw = {}
        self.raw: Mapping[str, Any] = raw or {}

    def take(self, key: str, check: Callable[[Any], bool], default: Any, expected: str) -> Any:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if check(value):
            return value
        self.problems[self.where + key] = f"is {_shown(value)}, not {expected}; read as {default!r}"
        return default

    def nested(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), f"{self.where}{key}.", self.problems)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class BaseModelRecord:
    """The base the adapter was trained on (``voiced.trainer.base_model.BaseModelInfo``), to detect a mismatch."""

    id: str = ""  # the voice's base_model setting
    kind: str = ""  # "gguf", "hf_dir" or "hf_id"
    sha256: str | None = None
    architecture: str = ""
    n_head: int = 0
    n_head_kv: int = 0
    hidden_size: int = 0
    n_layers: int = 0

    @classmethod
    def read(cls, fields_: _Reader) -> BaseModelRecord:
        return cls(
            id=fields_.take("id", _is_str, "", "text"),
            kind=fields_.take("kind", _is_str, "", "text"),
            sha256=fields_.take("sha256", _optional(_is_str), None, "text or null"),
            architecture=fields_.take("architecture", _is_str, "", "text"),
            **{name: fields_.take(name, _is_int, 0, "a whole number") for name in _SHAPE},
        )


_SHAPE = ("n_head", "n_head_kv", "hidden_size", "n_layers")


@dataclass(frozen=True)
class CorpusRecord:
    """What the run read: documents, passages, words and a digest of exactly which passages."""

    documents: int | None = None
    passages: int | None = None
    words: int | None = None
    digest: str | None = None

    @classmethod
    def read(cls, fields_: _Reader) -> CorpusRecord:
        counts = {name: fields_.take(name, _is_int, None, "a whole number") for name in ("documents", "passages")}
        return cls(
            **counts,
            words=fields_.take("words", _is_int, None, "a whole number"),
            digest=fields_.take("digest", _is_str, None, "text"),
        )


@dataclass(frozen=True)
class Scores:
    """The gate's figures and decision (``voiced.trainer.gate.GateResult.to_dict``)."""

    test_nll: Mapping[str, float] = field(default_factory=dict)  # "base", "candidate", "active"
    towards_writer: Mapping[str, float] = field(default_factory=dict)
    active_version: int | None = None
    min_margin: float | None = None
    test_examples: int | None = None
    test_tokens: int | None = None
    promoted: bool | None = None
    reason: str = ""
    voice_gate: Mapping[str, Any] = field(default_factory=dict)  # the voice gate's own record (evaluation)

    @classmethod
    def read(cls, fields_: _Reader) -> Scores:
        return cls(
            test_nll=fields_.take("test_nll", _is_number_map, {}, "an object of numbers"),
            towards_writer=fields_.take("towards_writer", _is_number_map, {}, "an object of numbers"),
            active_version=fields_.take("active_version", _optional(_is_int), None, "a version number or null"),
            min_margin=fields_.take("min_margin", _is_number, None, "a number"),
            test_examples=fields_.take("test_examples", _is_int, None, "a whole number"),
            test_tokens=fields_.take("test_tokens", _is_int, None, "a whole number"),
            promoted=fields_.take("promoted", _is_bool, None, "true or false"),
            reason=fields_.take("reason", _is_str, "", "text"),
            voice_gate=fields_.take("voice_gate", _is_object, {}, "an object"),
        )


@dataclass(frozen=True)
class Losses:
    """Loss curves as ``[step, loss]`` points, per split ("train", "valid")."""

    train: tuple[tuple[int, float], ...] = ()
    valid: tuple[tuple[int, float], ...] = ()

    @classmethod
    def read(cls, fields_: _Reader) -> Losses:
        def points(split: str) -> tuple[tuple[int, float], ...]:
            return tuple((p[0], p[1]) for p in fields_.take(split, _is_points, [], "a list of [step, loss]"))

        return cls(train=points("train"), valid=points("valid"))

    def __bool__(self) -> bool:
        return bool(self.train or self.valid)

    def to_dict(self) -> dict[str, list[list[float]]]:
        """As the manifest writes them (and the evaluation report plots them)."""
        return {"train": [list(p) for p in self.train], "valid": [list(p) for p in self.valid]}


@dataclass(frozen=True)
class TrainingRecord:
    """How the run went: why it stopped, steps, the best validation loss, throughput."""

    stopped: str = ""
    steps: int = 0
    total_steps: int = 0
    best_step: int | None = None
    best_valid_loss: float | None = None
    learning_rate: float | None = None
    tokens: int = 0
    tokens_per_second: float | None = None
    dtype: str = ""

    @classmethod
    def read(cls, fields_: _Reader) -> TrainingRecord:
        return cls(
            stopped=fields_.take("stopped", _is_str, "", "text"),
            steps=fields_.take("steps", _is_int, 0, "a whole number"),
            total_steps=fields_.take("total_steps", _is_int, 0, "a whole number"),
            best_step=fields_.take("best_step", _optional(_is_int), None, "a whole number or null"),
            best_valid_loss=fields_.take("best_valid_loss", _optional(_is_number), None, "a number or null"),
            learning_rate=fields_.take("learning_rate", _optional(_is_number), None, "a number or null"),
            tokens=fields_.take("tokens", _is_int, 0, "a whole number"),
            tokens_per_second=fields_.take("tokens_per_second", _optional(_is_number), None, "a number or null"),
            dtype=fields_.take("dtype", _is_str, "", "text"),
        )


@dataclass(frozen=True)
class Manifest:
    """One version's manifest, typed. Build it with :meth:`from_dict`; :meth:`to_dict` gives the JSON back."""

    schema: int = SCHEMA
    voice: str = ""
    version: int | None = None
    status: str = "failed"  # training, candidate, rejected, failed ("active" in older registries)
    reason: str = ""
    created: str | None = None  # ISO 8601, whole seconds, UTC
    finished: str | None = None
    pid: int | None = None  # the training process, while "training"
    host: str | None = None
    base_model: BaseModelRecord = field(default_factory=BaseModelRecord)
    corpus: CorpusRecord = field(default_factory=CorpusRecord)
    examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per split: counts by task, shape
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # the [training] settings of the run
    backend: str | None = None
    device: str | None = None
    scores: Scores = field(default_factory=Scores)
    notes: tuple[str, ...] = ()
    losses: Losses = field(default_factory=Losses)
    training: TrainingRecord = field(default_factory=TrainingRecord)
    durations: Mapping[str, float] = field(default_factory=dict)  # seconds per phase
    artifacts: Mapping[str, str] | None = None  # runtime -> path it loads; None: older, inferred from the files
    pointer: Mapping[str, Any] | None = None  # a copy of active.json, checked by the registry before use
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know, as written
    problems: Mapping[str, str] = field(default_factory=dict)  # field path -> what was wrong with it
    _raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, raw: Any) -> Manifest:
        """Read a parsed manifest.json, which the Manifest then owns (it is not copied: the registry reads each
        file for every listing); never raises (see the module's docstring for what is done instead)."""
        problems: dict[str, str] = {}
        top = _Reader(raw, "", problems)
        times = {when: top.take(when, _is_str, None, "an ISO time") for when in ("created", "finished")}
        for when, text in times.items():
            if text is not None and _parsed_time(text) is None:
                problems[when] = f"is {_shown(text)}, not an ISO time; read as unknown"
        status = top.take("status", _is_str, None, "text")
        reason = top.take("reason", _is_str, "", "text")
        if status is None:
            status, reason = "failed", reason or NO_STATUS
        return cls(
            schema=top.take("schema", _is_int, SCHEMA, "a whole number"),
            voice=top.take("voice", _is_str, "", "text"),
            version=top.take("version", _is_int, None, "a version number"),
            status=status,
            reason=reason,
            created=times["created"],
            finished=times["finished"],
            pid=top.take("pid", _is_int, None, "a process id"),
            host=top.take("host", _is_str, None, "text"),
            base_model=BaseModelRecord.read(top.nested("base_model")),
            corpus=CorpusRecord.read(top.nested("corpus")),
            examples=top.take("examples", _is_object, {}, "an object"),
            hyperparameters=top.take("hyperparameters", _is_object, {}, "an object"),
            backend=top.take("backend", _is_str, None, "text"),
            device=top.take("device", _is_str, None, "text"),
            scores=Scores.read(top.nested("scores")),
            notes=tuple(top.take("notes", _is_str_list, [], "a list of text")),
            losses=Losses.read(top.nested("losses")),
            training=TrainingRecord.read(top.nested("training")),
            durations=top.take("durations", _is_number_map, {}, "an object of numbers"),
            artifacts=top.take("artifacts", _is_object, None, "an object"),
            pointer=top.take("pointer", _is_object, None, "an object"),
            extra={key: value for key, value in top.raw.items() if key not in _KNOWN},
            problems=problems,
            _raw=top.raw,  # owned from here on: read once from the file, copied only by to_dict
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as it was read (every key, in order, damaged values included): what writers extend."""
        return copy.deepcopy(dict(self._raw))

    @property
    def created_at(self) -> datetime | None:
        """When training began (None when not recorded, or not a time)."""
        return _parsed_time(self.created)

    @property
    def finished_at(self) -> datetime | None:
        return _parsed_time(self.finished)


_KNOWN = frozenset(f.name for f in fields(Manifest)) - {"extra", "problems", "_raw"}


def _parsed_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
