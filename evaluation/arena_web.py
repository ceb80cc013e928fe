"""The arena as a small local web page: loopback only (address and `Host` name), a random token required
on every request, no external assets."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from voiced.evaluation.arena import CHOICES, ArenaStore, Match
from voiced.loopback import HOST_REFUSED, is_loopback_host

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>voiced arena</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto}}
.pair{{display:flex;gap:1em}}.pair div{{flex:1;border:1px solid #ccc;padding:1em;white-space:pre-wrap}}
blockquote{{color:#555;white-space:pre-wrap}}</style></head><body>{body}</body></html>"""


class ArenaServer:
    """Serves the matches one at a time and records each choice through ``store``."""

    def __init__(self, voice: str, matches: Sequence[Match], store: ArenaStore, port: int = 0) -> None:
        self.voice, self.matches, self.store = voice, list(matches), store
        self.token = secrets.token_urlsafe(24)
        self.position = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)  # bound to "127.0.0.1" above, so the address is (str, int)
        return f"http://{host}:{port}/?token={self.token}"

    def start(self) -> str:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def finished(self) -> bool:
        return self.position >= len(self.matches)

    def page(self) -> str:
        if self.finished:
            return PAGE.format(body="<h1>All done</h1><p>Thank you. You can close this page.</p>")
        match = self.matches[self.position]
        buttons = "".join(f'<button name="choice" value="{c}">{c}</button> ' for c in CHOICES)
        body = (
            f"<h1>Which sounds more like you? ({self.position + 1}/{len(self.matches)})</h1>"
            f"<p>Rough passage:</p><blockquote>{escape(match.prompt)}</blockquote>"
            f'<div class="pair"><div><b>A</b>\n{escape(match.a_text)}</div>'
            f"<div><b>B</b>\n{escape(match.b_text)}</div></div>"
            f'<form method="post" action="/choose?token={escape(self.token)}">'
            f'<input type="hidden" name="match" value="{self.position}">{buttons}</form>'
        )
        return PAGE.format(body=body)

    def choose(self, index: int, choice: str) -> None:
        with self.lock:
            if choice not in CHOICES or index != self.position or self.finished:
                raise ValueError("stale or unknown choice")
            self.store.record(self.voice, self.matches[index], choice, "web")
            self.position += 1

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet: stdout is the terminal's
                pass

            def _authorised(self) -> bool:
                """A loopback `Host` (no DNS rebinding) and the token, compared as bytes (any text may come)."""
                host = self.headers.get_all("Host") or []
                if len(host) != 1 or not is_loopback_host(host[0]):
                    self._send(421, HOST_REFUSED.format(host=", ".join(host)))
                    return False
                token = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                if secrets.compare_digest(token.encode("utf-8", "surrogatepass"), server.token.encode()):
                    return True
                self._send(403, "Forbidden: open the address printed by `voiced arena --web` (it holds the token).")
                return False

            def _send(self, status: int, text: str, kind: str = "text/plain") -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self._authorised():
                    self._send(200, server.page(), "text/html")

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                length = min(int(self.headers.get("Content-Length") or 0), 10_000)
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                try:
                    server.choose(int(form.get("match", ["-1"])[0]), form.get("choice", [""])[0])
                except ValueError:
                    self._send(409, "That choice is stale or unknown; reload the page.")
                    return
                self.send_response(303)
                self.send_header("Location", f"/?token={server.token}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
