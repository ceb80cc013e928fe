"""The daemon's HTTP API: rewrite and continue in a voice, status, corpus, adapters, training.

Every route needs ``Authorization: Bearer <token>`` (the token in
``daemon.json``); only the OpenAPI schema at ``/openapi.json`` is open.
Errors always have the body ``{"error": {"message", "type", "code"}}``
(OpenAI's shape, so OpenAI clients show the message).

Streaming (``"stream": true`` on /v1/rewrite and /v1/continue) answers
``application/x-ndjson``, one JSON object per line::

    {"type": "start", "request_id": "req-...", "voice": "default", "notice": null}
    {"type": "piece", "text": "..."}            (any number)
    {"type": "guard", "paragraph", "outcome", "code", "reason", "attempts"}   (rewrites: see rewrite_guard)
    {"type": "done", "finish_reason": "stop" | "cancelled"}
    {"type": "error", "error": {"message", "type", "code"}}   (instead of done)

The request id is also in the ``X-Request-Id`` header of every generation
response; ``POST /v1/requests/{id}/cancel`` stops it, and so does closing
the connection. When the voice's active adapter cannot be used and the base
model answered instead, ``X-Voiced-Notice`` says so (and ``notice`` in the
JSON body and in the stream's start line).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from voiced import __version__
from voiced.config import Config
from voiced.daemon import schemas
from voiced.daemon.error_status import status_of
from voiced.daemon.host_check import LoopbackHostOnly
from voiced.daemon.inflight import InFlight
from voiced.daemon.limits import BodySizeLimit
from voiced.daemon.params import generation_params
from voiced.daemon.streaming import Relay, Reports, ndjson
from voiced.errors import VoicedError
from voiced.inference.generation import EngineError, GenerationCancelled, ModelLoadError
from voiced.paths import Paths, get_paths

log = logging.getLogger("voiced.daemon")
NOTICE_HEADER = "X-Voiced-Notice"  # why the base model served a voice whose active adapter cannot be used

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse} for code in (400, 401, 404, 409, 413, 422, 501, 503)
}


class ApiError(VoicedError):
    """A refusal the daemon itself makes (a request check), with its HTTP status and a message saying what to do.

    Errors from below (registry, corpus, engine) are not wrapped in it: the app's
    handler answers any :class:`VoicedError` with the status of its type
    (``voiced.daemon.error_status``).
    """

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.type, self.code = status, type, code


def api_error(exc: VoicedError) -> ApiError:
    """The HTTP answer for an expected error, by its type; the message is the error's own, fix included."""
    if isinstance(exc, ApiError):
        return exc
    answer = status_of(exc)
    return ApiError(answer.status, str(exc), type=answer.type, code=answer.code)


def error_response(
    status: int, message: str, type: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class DaemonContext:
    """What the routes share: configuration, token, the engine (or why it is missing), requests in flight."""

    config: Config
    token: str
    engine: Any = None
    engine_error: str | None = None
    started_at: float = field(default_factory=time.time)
    port: int = 0
    paths: Paths = field(default_factory=get_paths)
    inflight: InFlight = field(default_factory=InFlight)
    training: Any = None  # the training job manager, when the trainer's job runner is available
    corpus_watch: Any = None  # voiced.daemon.corpus_watch.CorpusWatching, when daemon.watch_folders is on
    config_watch: Any = None  # voiced.daemon.config_watch.ConfigWatch, following the config file
    scheduler: Any = None  # voiced.daemon.scheduler.Scheduler, when nightly retraining is on


def _context(request: Request) -> DaemonContext:
    return request.app.state.context


_bearer = HTTPBearer(auto_error=False, description="The token in daemon.json (state dir).")


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 unless the bearer token matches (compared in constant time)."""
    expected = _context(request).token.encode()
    given = (credentials.credentials if credentials else "").encode()
    if not hmac.compare_digest(given, expected):
        raise ApiError(
            401,
            "Missing or wrong bearer token. Send `Authorization: Bearer <token>` "
            "with the token from daemon.json in voiced's state directory.",
            type="authentication_error",
            code="invalid_token",
        )


# --- helpers shared by the routes -------------------------------------------------


def resolve_voice(ctx: DaemonContext, name: str | None) -> str:
    if not ctx.config.voices:
        raise ApiError(
            404,
            "No voice is configured. Run `voiced init` and `voiced add FOLDER` "
            "(the running daemon follows the configuration).",
            type="not_found_error",
            code="voice_not_found",
        )
    if name is None:
        return next(iter(ctx.config.voices))
    if name not in ctx.config.voices:
        known = ", ".join(ctx.config.voices)
        raise ApiError(
            404,
            f"There is no voice named {name!r} (configured: {known}).",
            type="not_found_error",
            code="voice_not_found",
        )
    return name


def check_text(ctx: DaemonContext, text: str) -> None:
    if not text.strip():
        raise ApiError(422, "The text is empty. Send the text to rewrite or continue in `text`.", code="empty_text")
    limit = ctx.config.daemon.max_text_chars
    if len(text) > limit:
        raise ApiError(
            422,
            f"The text has {len(text)} characters; the daemon accepts at most {limit}. "
            "Split it into shorter parts, or raise daemon.max_text_chars in the configuration.",
            code="text_too_long",
        )


def engine_or_503(ctx: DaemonContext) -> Any:
    if ctx.engine is None:
        raise ApiError(
            503,
            f"The model is not available: {ctx.engine_error or 'the engine did not start'}. "
            "Check the base model in the configuration, then `voiced daemon restart`.",
            type="model_unavailable",
            code="model_unavailable",
        )
    return ctx.engine


def engine_failure(exc: Exception) -> ApiError:
    """The engine's own refusals keep their meaning (404, 422); anything else means the model is unusable."""
    if isinstance(exc, EngineError) and not isinstance(exc, ModelLoadError):
        return api_error(exc)
    return ApiError(503, f"The model failed: {exc}", type="model_unavailable", code="engine_error")


def new_request_id(ctx: DaemonContext, wanted: str | None) -> str:
    request_id = wanted or ctx.inflight.new_id()
    return request_id


async def generate(
    ctx: DaemonContext, request_id: str, start: Callable[[Any], Iterator[str]]
) -> tuple[Relay | None, object, Any]:
    """Register the request, start the engine and await the first piece (errors here are HTTP errors)."""
    try:
        cancel = ctx.inflight.register(request_id)
    except KeyError:
        raise ApiError(
            409, f"A request with id {request_id!r} is already running; use another id.", code="duplicate_request_id"
        ) from None
    try:
        relay = Relay(start(cancel), cancel)
        first = await relay.first()
    except GenerationCancelled:
        ctx.inflight.finish(request_id)
        return None, None, cancel
    except Exception as exc:  # the engine's refusals and a model that breaks at start alike
        ctx.inflight.finish(request_id)
        if not isinstance(exc, EngineError):
            log.exception("request %s failed before its first piece", request_id)
        raise engine_failure(exc) from exc
    except BaseException:
        cancel.set()
        ctx.inflight.finish(request_id)
        raise
    return relay, first, cancel


async def stream_pieces(ctx: DaemonContext, request_id: str, relay: Relay | None, first: object, cancel: Any) -> Any:
    """Relay pieces, then report how generation ended: ("piece", text)*, then ("done"|"error", detail)."""
    count = 0
    outcome = "cancelled"
    try:
        if relay is None:  # cancelled before the first piece
            yield "done", "cancelled"
            return
        try:
            async for piece in relay.rest(first, lambda: ctx.inflight.finish(request_id)):
                count += 1
                yield "piece", piece
        except GenerationCancelled:
            yield "done", "cancelled"
            return
        except Exception as exc:  # headers are sent: the failure travels in the stream
            outcome = f"failed ({exc})"
            if not isinstance(exc, EngineError):
                log.exception("request %s failed mid-generation", request_id)
            yield "error", {"message": f"The model failed: {exc}", "type": "model_unavailable", "code": "engine_error"}
            return
        outcome = "cancelled" if cancel.is_set() else "stop"
        yield "done", outcome
    finally:  # also reached when the client went away mid-stream
        log.info("request %s ended: %s after %d pieces", request_id, outcome, count)


# --- routes ----------------------------------------------------------------------

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=ERROR_RESPONSES)


@router.get("/status", response_model=schemas.StatusResponse, summary="Is the daemon up, and what is it doing")
def status(request: Request) -> dict:
    ctx = _context(request)
    engine_status: dict = {}
    engine_error = ctx.engine_error
    if ctx.engine is not None:
        try:
            engine_status = ctx.engine.status()
        except Exception as exc:  # a status page must answer even when the engine is unwell
            engine_error = f"The engine could not say what it serves: {exc}"
    return {
        "version": __version__,
        "pid": os.getpid(),
        "port": ctx.port,
        "started_at": ctx.started_at,
        "uptime_seconds": time.time() - ctx.started_at,
        "voices": list(ctx.config.voices),
        "requests_in_flight": len(ctx.inflight),
        "engine": engine_status,
        "engine_error": engine_error,
        "training": ctx.training.progress() if ctx.training is not None else None,
        "corpus_watch": ctx.corpus_watch.status() if ctx.corpus_watch is not None else None,
        "scheduler": ctx.scheduler.status() if ctx.scheduler is not None else None,
    }


async def _text_endpoint(request: Request, body: schemas.TextRequest, kind: str):
    ctx = _context(request)
    voice = resolve_voice(ctx, body.voice)
    check_text(ctx, body.text)
    engine = engine_or_503(ctx)
    params = generation_params(body, ctx.config.daemon.max_tokens)
    method = engine.stream_rewrite if kind == "rewrite" else engine.stream_continue
    request_id = new_request_id(ctx, body.request_id)
    streams: list = []
    guard = Reports()  # paragraphs the rewrite guard cleaned, retried or left as they were
    extra = {"on_guard": guard.add} if kind == "rewrite" else {}

    def start(cancel):
        streams.append(method(voice, body.text, params=params, cancel=cancel, **extra))
        return streams[-1]

    relay, first, cancel = await generate(ctx, request_id, start)
    headers = {"X-Request-Id": request_id}
    notice = getattr(streams[0], "notice", None) if streams else None  # known once the first piece came
    if notice:
        headers[NOTICE_HEADER] = notice.encode("ascii", "backslashreplace").decode("ascii")
    if body.stream:

        async def lines():
            yield ndjson({"type": "start", "request_id": request_id, "voice": voice, "notice": notice})
            async for kind_, detail in stream_pieces(ctx, request_id, relay, first, cancel):
                for report in guard.new():  # reported before the paragraph it is about is sent
                    yield ndjson({"type": "guard", **report})
                if kind_ == "piece":
                    yield ndjson({"type": "piece", "text": detail})
                elif kind_ == "done":
                    yield ndjson({"type": "done", "finish_reason": detail})
                else:
                    yield ndjson({"type": "error", "error": detail})

        return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)
    text, finish = [], "stop"
    async for kind_, detail in stream_pieces(ctx, request_id, relay, first, cancel):
        if kind_ == "piece":
            text.append(detail)
        elif kind_ == "done":
            finish = detail
        else:
            return error_response(503, detail["message"], detail["type"], detail["code"], headers=headers)
    return JSONResponse(
        {
            "request_id": request_id,
            "voice": voice,
            "text": "".join(text),
            "finish_reason": finish,
            "notice": notice,
            **({"guard": guard.all} if extra else {}),
        },
        headers=headers,
    )


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "model": schemas.TextResponse,
        "description": ("JSON; with `stream: true`, NDJSON lines (start, piece*, done|error) as application/x-ndjson."),
        "content": {"application/x-ndjson": {}},
    }
}


@router.post("/rewrite", summary="Rewrite a text in a voice", responses=_STREAM_DOC, response_model=None)
async def rewrite(request: Request, body: schemas.TextRequest):
    return await _text_endpoint(request, body, "rewrite")


@router.post("/continue", summary="Continue a text in a voice", responses=_STREAM_DOC, response_model=None)
async def continue_(request: Request, body: schemas.TextRequest):
    return await _text_endpoint(request, body, "continue")


@router.post(
    "/requests/{request_id}/cancel", response_model=schemas.CancelResponse, summary="Stop a running generation"
)
def cancel_request(request: Request, request_id: str) -> dict:
    return {"request_id": request_id, "cancelled": _context(request).inflight.cancel(request_id)}


# --- the application -----------------------------------------------------------------


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return (
            400,
            "The request body is not valid JSON. Send a JSON object (Content-Type: application/json).",
            "invalid_json",
        )
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        return (
            422,
            (
                "The request body must be a JSON object, sent with Content-Type: application/json "
                "(with curl: -H 'Content-Type: application/json')."
            ),
            "invalid_request",
        )
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return (
        422,
        "Invalid request: " + "; ".join(parts) + ". See /openapi.json for the expected fields.",
        "invalid_request",
    )


def create_app(ctx: DaemonContext) -> FastAPI:
    """The ASGI application for one daemon; routers for the optional parts are added here."""
    from voiced.daemon import manage_api, openai_api

    app = FastAPI(title="voiced daemon", version=__version__, docs_url=None, redoc_url=None, description=__doc__)
    app.state.context = ctx
    app.include_router(router)
    app.include_router(openai_api.router)
    app.include_router(manage_api.router)

    @app.exception_handler(VoicedError)  # ApiError included; any other by its type's status
    async def _expected_error(request: Request, exc: VoicedError):
        answer = api_error(exc)
        return error_response(answer.status, answer.message, answer.type, answer.code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        status_code, message, code = _validation_message(exc)
        return error_response(status_code, message, "invalid_request_error", code)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        type_ = "request_too_large" if exc.status_code == 413 else "invalid_request_error"
        return error_response(exc.status_code, str(exc.detail), type_, None, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error in %s", request.url.path)
        return error_response(
            500,
            f"Unexpected error in the daemon: {exc}. The log file has the details (`voiced daemon logs`).",
            "server_error",
        )

    app.add_middleware(BodySizeLimit, max_bytes=ctx.config.daemon.max_body_bytes)
    app.add_middleware(LoopbackHostOnly)  # added last, so it runs first: a rebound name reaches nothing
    return app
