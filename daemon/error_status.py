"""Each expected error's HTTP answer, chosen by its type: the type says what went wrong, never the wording.

One table, looked up along the exception's MRO, so a subclass answers as its
nearest listed ancestor (every ``RegistryError`` not listed is a 409) and an
error type nobody listed still gets a sensible status rather than a 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from voiced.corpus.records import CorpusError
from voiced.daemon.training import TrainingBusy
from voiced.errors import VoicedError
from voiced.inference.generation import EmptyText, EngineError, ModelLoadError, UnknownVoice
from voiced.models import ModelNotFound
from voiced.registry import CorruptAdapter, DiskFullError, NotFound, NotUsable, RegistryError
from voiced.trainer.voice_lock import TrainingRunning


@dataclass(frozen=True)
class ErrorStatus:
    """The HTTP status and the ``type``/``code`` of the daemon's JSON error body."""

    status: int
    type: str
    code: str


STATUS_BY_ERROR: dict[type[VoicedError], ErrorStatus] = {
    UnknownVoice: ErrorStatus(404, "not_found_error", "voice_not_found"),
    EmptyText: ErrorStatus(422, "invalid_request_error", "empty_text"),
    ModelLoadError: ErrorStatus(503, "model_unavailable", "engine_error"),
    EngineError: ErrorStatus(422, "invalid_request_error", "cannot_generate"),  # e.g. too long for the context
    ModelNotFound: ErrorStatus(503, "model_unavailable", "model_not_found"),
    NotFound: ErrorStatus(404, "registry_error", "not_found"),
    NotUsable: ErrorStatus(409, "registry_error", "not_usable"),
    CorruptAdapter: ErrorStatus(422, "registry_error", "corrupt_adapter"),
    DiskFullError: ErrorStatus(507, "registry_error", "disk_full"),
    RegistryError: ErrorStatus(409, "registry_error", "registry_error"),
    CorpusError: ErrorStatus(503, "corpus_error", "corpus_unusable"),  # a damaged database
    TrainingBusy: ErrorStatus(409, "conflict", "training_running"),
    TrainingRunning: ErrorStatus(409, "conflict", "training_running"),
}
# The request was understood, but the state of things refuses it; the message says what to change.
UNLISTED = ErrorStatus(409, "conflict", "expected_error")


def status_of(exc: VoicedError) -> ErrorStatus:
    """The entry of the nearest class in ``exc``'s MRO that the table lists."""
    for kind in type(exc).__mro__:
        found = STATUS_BY_ERROR.get(kind)
        if found is not None:
            return found
    return UNLISTED
