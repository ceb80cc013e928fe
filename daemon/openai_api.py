"""OpenAI-compatible routes, so any local tool that speaks that API can use a voice as a model.

``GET /v1/models`` lists each configured voice as a model id;
``POST /v1/chat/completions`` answers in OpenAI's format, and with
``"stream": true`` as server-sent events of ``chat.completion.chunk``
objects ending with ``data: [DONE]``. Same bearer token as the rest.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from voiced.daemon import schemas
from voiced.daemon.api import (
    ERROR_RESPONSES,
    ApiError,
    _context,
    engine_or_503,
    error_response,
    generate,
    require_token,
    resolve_voice,
    stream_pieces,
)
from voiced.daemon.params import generation_params
from voiced.daemon.streaming import sse

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=ERROR_RESPONSES, tags=["openai"])


@router.get("/models", summary="Voices, as OpenAI model ids")
def models(request: Request) -> dict:
    ctx = _context(request)
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": int(ctx.started_at), "owned_by": "voiced"}
            for name in ctx.config.voices
        ],
    }


def _chunk(completion_id: str, created: int, model: str, delta: dict, finish: str | None) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _finish_reason(detail: str) -> str:
    # OpenAI has no "cancelled"; a stopped generation is reported as cut short.
    return "stop" if detail == "stop" else "length"


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion in a voice",
    response_model=None,
    responses={
        200: {
            "description": "chat.completion JSON, or text/event-stream chunks with stream: true",
            "content": {"text/event-stream": {}},
        }
    },
)
async def chat_completions(request: Request, body: schemas.ChatCompletionRequest):
    ctx = _context(request)
    voice = resolve_voice(ctx, body.model)
    if not any(m.role == "user" and m.content.strip() for m in body.messages):
        raise ApiError(422, "The messages hold no user text. Add a message with role `user`.", code="empty_text")
    total = sum(len(m.content) for m in body.messages)
    limit = ctx.config.daemon.max_text_chars
    if total > limit:
        raise ApiError(
            422,
            f"The messages have {total} characters; the daemon accepts at most {limit}. "
            "Send less text, or raise daemon.max_text_chars in the configuration.",
            code="text_too_long",
        )
    engine = engine_or_503(ctx)
    params = generation_params(body, ctx.config.daemon.max_tokens)
    messages = [{"role": m.role, "content": m.content} for m in body.messages]
    request_id = ctx.inflight.new_id()
    relay, first, cancel = await generate(
        ctx, request_id, lambda cancel: engine.stream_chat(voice, messages, params=params, cancel=cancel)
    )
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    headers = {"X-Request-Id": request_id}

    if body.stream:

        async def events():
            yield sse(_chunk(completion_id, created, voice, {"role": "assistant", "content": ""}, None))
            async for kind, detail in stream_pieces(ctx, request_id, relay, first, cancel):
                if kind == "piece":
                    yield sse(_chunk(completion_id, created, voice, {"content": detail}, None))
                elif kind == "done":
                    yield sse(_chunk(completion_id, created, voice, {}, _finish_reason(detail)))
                else:
                    yield sse({"error": detail})
            yield sse("[DONE]")

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={**headers, "Cache-Control": "no-cache"}
        )

    text, finish = [], "stop"
    async for kind, detail in stream_pieces(ctx, request_id, relay, first, cancel):
        if kind == "piece":
            text.append(detail)
        elif kind == "done":
            finish = _finish_reason(detail)
        else:
            return error_response(503, detail["message"], detail["type"], detail["code"], headers=headers)
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": voice,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(text)}, "finish_reason": finish}
            ],
        },
        headers=headers,
    )
