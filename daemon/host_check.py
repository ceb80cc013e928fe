"""Refuse HTTP requests addressed to a name other than loopback (DNS rebinding), before any route runs."""

from __future__ import annotations

import json

from starlette.types import ASGIApp

from voiced.loopback import HOST_REFUSED, is_loopback_host

STATUS = 421  # Misdirected Request: this server does not answer for that name


def host_refused_body(host: str) -> bytes:
    return json.dumps(
        {
            "error": {
                "message": HOST_REFUSED.format(host=host),
                "type": "invalid_request_error",
                "code": "host_not_allowed",
            }
        }
    ).encode()


class LoopbackHostOnly:
    """ASGI middleware: 421 with the daemon's JSON error unless the `Host` header is a loopback name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        hosts = [value.decode("latin-1") for name, value in scope.get("headers") or [] if name == b"host"]
        host = hosts[0] if len(hosts) == 1 else ", ".join(hosts)  # none or several: refused
        if len(hosts) == 1 and is_loopback_host(host):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # no route uses one; refuse it all the same
            return await send({"type": "websocket.close", "code": 1008})
        body = host_refused_body(host)
        await send(
            {
                "type": "http.response.start",
                "status": STATUS,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
