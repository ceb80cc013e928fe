"""Request and response bodies of the HTTP API; FastAPI turns them into the OpenAPI schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REQUEST_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class GenerationOptions(BaseModel):
    """Sampling knobs a request may set; anything left out uses the engine's defaults."""

    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate (capped by daemon.max_tokens).")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seed for reproducible sampling.")


class TextRequest(GenerationOptions):
    """A rewrite or continuation of one text in one voice."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="The text to rewrite or continue (not empty; at most daemon.max_text_chars).")
    voice: str | None = Field(None, description="Voice name; the first configured voice when left out.")
    stream: bool = Field(False, description="Stream the answer as NDJSON lines (see the endpoint description).")
    request_id: str | None = Field(
        None,
        pattern=REQUEST_ID_PATTERN,
        description="Your id for this request, usable with /v1/requests/{id}/cancel; generated when left out.",
    )


class TextResponse(BaseModel):
    request_id: str
    voice: str
    text: str
    finish_reason: Literal["stop", "cancelled"]
    notice: str | None = Field(
        None,
        description="Set when the base model answered because the voice's active "
        "adapter cannot be used: why, and what to do (also the "
        "X-Voiced-Notice header).",
    )
    guard: list[GuardReport] | None = Field(
        None,
        description="Rewrites: each paragraph the rewrite guard cleaned, "
        "retried, found unchanged or left as it was (docs/daemon.md).",
    )


class GuardReport(BaseModel):
    paragraph: int = Field(
        ..., description="1-based, counting the request's prose paragraphs (and a long one's pieces)."
    )
    outcome: Literal["ok", "cleaned", "unchanged", "rejected"] = Field(
        ..., description="rejected: every try was rejected and the paragraph was left as it was."
    )
    code: str = Field(
        ...,
        description=(
            "commentary, label, too_short, too_long, content_dropped, names_dropped, clause_dropped, lines, empty, "
            "unchanged"
        ),
    )
    reason: str = Field(..., description="What was wrong, for the writer.")
    attempts: int


class CancelResponse(BaseModel):
    request_id: str
    cancelled: bool = Field(..., description="False when no request with that id is running (already finished).")


class ErrorBody(BaseModel):
    message: str = Field(..., description="What happened and what to do.")
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class RebuildStatus(BaseModel):
    """A GGUF LoRA being rebuilt from its PEFT adapter (voiced.inference.voice_status.Rebuild)."""

    version: int
    state: Literal["running", "done", "failed"]
    reason: str | None = Field(None, description="Why the rebuild failed.")


class VoiceEngineStatus(BaseModel):
    """One voice as the engine serves it (voiced.inference.voice_status.VoiceStatus, field for field)."""

    loaded: bool = Field(..., description="The voice's model is in memory.")
    backend: str | None = Field(..., description="llama.cpp, transformers or mlx; null until loaded.")
    base_model: str = Field(..., description="The file or folder loaded, or the voice's base_model setting.")
    adapter: str | None = Field(..., description="The file or folder served; null: the base model alone.")
    adapter_version: int | None = Field(..., description="The registry version served; null: the base model.")
    registry_version: int | None = Field(..., description="The registry's active version at the last check.")
    registry_changed: bool = Field(..., description="The registry changed since; applied at the next request.")
    notice: str | None = Field(..., description="Why the base model serves a voice whose registry names a version.")
    rebuild: RebuildStatus | None
    queue_depth: int = Field(..., ge=0)
    busy: bool


class StatusResponse(BaseModel):
    version: str
    pid: int
    port: int
    started_at: float
    uptime_seconds: float
    voices: list[str]
    requests_in_flight: int
    engine: dict[str, VoiceEngineStatus] = Field(
        ..., description="Per voice: what the engine serves, beside the registry's active version."
    )
    engine_error: str | None = Field(
        None, description="Why the model cannot be used, or why the engine could not say what it serves."
    )
    training: dict | None = None
    corpus_watch: dict | None = Field(None, description="The folder watcher: watching, error, changes, last_change.")
    scheduler: dict | None = Field(
        None, description="Nightly retraining: enabled, nightly_at, min_new_words, last_run, next_run, pending."
    )


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatCompletionRequest(GenerationOptions):
    """The subset of OpenAI's chat completion request the daemon honours; other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(..., description="A voice name, as listed by /v1/models.")
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: bool = False


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(..., ge=1, description="Registry version number to make active.")


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice: str | None = Field(None, description="Voice to train; the first configured voice when left out.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps (training.max_steps).")
    max_minutes: float | None = Field(None, gt=0, description="Stop after this many minutes (training.max_minutes).")
