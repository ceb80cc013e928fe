"""Talk to the voiced daemon from any process, starting it when needed.

Torch-free and light (httpx only): the CLI's `rewrite`/`continue` and the
LSP server use it. Every failure is a :class:`DaemonUnavailable` (no daemon,
or it died) or a :class:`DaemonError` (it answered with an error), each with
a message a writer can act on.

A long-lived client (the LSP server's) outlives daemons: when a request cannot
connect or its token is refused (a daemon restarted, perhaps on the same port
with a new token), the client re-reads ``daemon.json`` and sends the request
once more. Only requests that certainly did nothing are sent again: a refused
connection or a 401 means the daemon never acted on them.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from voiced.daemon.process import DaemonProcessError, answering_record, start_daemon
from voiced.daemon.state import DaemonRecord
from voiced.errors import VoicedError
from voiced.paths import Paths


class DaemonUnavailable(VoicedError):
    """No daemon answers (not running, could not start, or stopped mid-request)."""


class DaemonError(VoicedError):
    """The daemon answered with an error; ``status`` is the HTTP status, ``code`` its error code
    (``"cancelled"`` when a generation was stopped by something other than this client's ``cancel``)."""

    def __init__(self, message: str, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


_ACTIONS = {
    "rewrite": "rewriting",
    "continue": "continuing the text",
    "status": "answering",
    "training": "starting training",
}


def _stopped(action: str) -> DaemonUnavailable:
    return DaemonUnavailable(
        f"the voiced daemon stopped while {_ACTIONS.get(action, action)}; "
        "run `voiced daemon start` (and `voiced daemon logs` to see why)"
    )


_NOT_ANSWERING = "the voiced daemon is not answering; run `voiced daemon start`"


def _error_from(response: httpx.Response) -> DaemonError:
    try:
        error = response.json()["error"]
        return DaemonError(error["message"], response.status_code, error.get("code"))
    except (ValueError, KeyError, TypeError):
        return DaemonError(f"the daemon answered {response.status_code}: {response.text[:200]}", response.status_code)


class DaemonClient:
    """One connection to the running daemon, described by its ``daemon.json`` record.

    ``paths`` and ``start_if_needed`` say how to find (or start) a daemon again when this one is gone.
    """

    def __init__(
        self,
        record: DaemonRecord,
        timeout: float = 300.0,
        *,
        paths: Paths | None = None,
        start_if_needed: bool = False,
        start_timeout: float | None = None,
    ) -> None:
        self.record = record
        self._timeout = timeout
        self._paths, self._start_if_needed, self._start_timeout = paths, start_if_needed, start_timeout
        self._lock = threading.Lock()  # guards the two sets below
        self._switching = threading.Lock()  # one thread at a time follows the daemon to a new record
        self._open: set[str] = set()  # request ids generating through this client now
        self._cancelled: set[str] = set()  # those of them this client cancelled (a subset of _open)
        self._http = self._http_for(record)

    def _http_for(self, record: DaemonRecord) -> httpx.Client:
        return httpx.Client(
            base_url=record.base_url,
            timeout=httpx.Timeout(self._timeout, connect=5.0),
            headers={"Authorization": f"Bearer {record.token}"},
        )

    @classmethod
    def connect(
        cls, start_if_needed: bool = True, paths: Paths | None = None, start_timeout: float | None = None
    ) -> DaemonClient:
        """A client for the running daemon; starts one first when allowed and none runs."""
        record = _find_daemon(paths, start_if_needed, start_timeout)
        return cls(record, paths=paths, start_if_needed=start_if_needed, start_timeout=start_timeout)

    def _reconnected(self, failed: httpx.Client) -> bool:
        """After ``failed`` could not reach the daemon or had its token refused: follow ``daemon.json``
        to the daemon that runs now (starting one when this client may). True when there is a
        different daemon (or another thread already switched) to send the request to again."""
        with self._switching:
            if self._http is not failed:
                return True
            record = _find_daemon(self._paths, self._start_if_needed, self._start_timeout)
            if record == self.record:
                return False
            self.record, self._http = record, self._http_for(record)
        failed.close()
        return True

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plain requests ---------------------------------------------------------------

    def _request(self, method: str, path: str, action: str, **kwargs: Any) -> Any:
        """One request; sent again once to a restarted daemon when the first could not have acted
        (refused connection, refused token), and for a GET after any lost connection."""
        for attempt in (1, 2):
            http = self._http
            try:
                response = http.request(method, path, **kwargs)
            except httpx.ConnectError as exc:
                if attempt == 1 and self._reconnected(http):
                    continue
                raise DaemonUnavailable(_NOT_ANSWERING) from exc
            except httpx.TransportError as exc:
                if attempt == 1 and method == "GET" and self._reconnected(http):
                    continue
                raise _stopped(action) from exc
            if response.status_code == 401 and attempt == 1 and self._reconnected(http):
                continue
            if response.status_code >= 400:
                raise _error_from(response)
            return response.json()
        raise AssertionError("unreachable")

    def _generate(self, path: str, action: str, body: dict[str, Any]) -> str:
        with self._generating(body.get("request_id")):
            answer = self._request("POST", path, action, json=body)
            if answer.get("finish_reason") == "cancelled":
                self._check_cancel_was_ours(answer.get("request_id", ""))
        return answer["text"]

    @contextmanager
    def _generating(self, request_id: str | None) -> Iterator[None]:
        """While a generation runs, ``cancel`` may mark it; afterwards nothing about it is kept."""
        if request_id is None:
            yield
            return
        with self._lock:
            self._open.add(request_id)
        try:
            yield
        finally:
            with self._lock:
                self._open.discard(request_id)
                self._cancelled.discard(request_id)

    def _check_cancel_was_ours(self, request_id: str) -> None:
        """A stop this client asked for ends quietly; any other (a daemon shutdown) is an error,
        so partial text is never taken for a finished one."""
        with self._lock:
            if request_id in self._cancelled:
                return
        raise DaemonError(
            f"the generation {request_id} was stopped before it finished (the daemon may be shutting down); try again",
            0,
            "cancelled",
        )

    def status(self) -> dict:
        return self._request("GET", "/v1/status", "status")

    def cancel(self, request_id: str) -> bool:
        """Stop a running generation; False when it had already finished.

        The stream of a generation cancelled through this client then ends quietly. Only
        generations running through this client are remembered, and only until they end.
        """
        with self._lock:
            if request_id in self._open:
                self._cancelled.add(request_id)
        cancelled = False
        try:
            cancelled = bool(self._request("POST", f"/v1/requests/{request_id}/cancel", "status")["cancelled"])
        finally:
            if not cancelled:
                with self._lock:
                    self._cancelled.discard(request_id)
        return cancelled

    # --- training and adapters ----------------------------------------------------------

    def train(
        self, voice: str | None = None, *, max_steps: int | None = None, max_minutes: float | None = None
    ) -> dict:
        """Start training in the daemon's child; the first progress record. 409 (DaemonError) if one runs."""
        body: dict[str, Any] = {
            key: value
            for key, value in (("voice", voice), ("max_steps", max_steps), ("max_minutes", max_minutes))
            if value is not None
        }
        return self._request("POST", "/v1/train", "training", json=body)

    def train_progress(self) -> dict:
        """The running or last training: state, step, total_steps, loss, eta, version, outcome, reason."""
        return self._request("GET", "/v1/train", "status")

    def cancel_training(self) -> dict:
        return self._request("POST", "/v1/train/cancel", "status")

    def adapters(self, voice: str | None = None) -> dict:
        return self._request("GET", "/v1/adapters", "status", params={"voice": voice} if voice else None)

    def activate(self, voice: str, version: int) -> dict:
        return self._request("POST", f"/v1/adapters/{voice}/activate", "status", json={"version": version})

    def rollback(self, voice: str) -> dict:
        return self._request("POST", f"/v1/adapters/{voice}/rollback", "status")

    def rewrite(self, voice: str | None, text: str, stream: bool = False, **options: Any) -> Any:
        """The rewritten text; with ``stream=True`` an iterator of pieces instead."""
        if stream:
            return self.stream_rewrite(voice, text, **options)
        return self._generate("/v1/rewrite", "rewrite", _body(voice, text, options))

    def continue_text(self, voice: str | None, text: str, stream: bool = False, **options: Any) -> Any:
        """A continuation of ``text``; with ``stream=True`` an iterator of pieces instead."""
        if stream:
            return self.stream_continue(voice, text, **options)
        return self._generate("/v1/continue", "continue", _body(voice, text, options))

    # --- streaming ---------------------------------------------------------------------

    def stream_rewrite(
        self,
        voice: str | None,
        text: str,
        request_id: str | None = None,
        on_guard: Callable[[dict], None] | None = None,
        **options: Any,
    ) -> Iterator[str]:
        """Pieces of the rewrite as they are generated; pass ``request_id`` to cancel it from elsewhere.
        ``on_guard`` gets each paragraph the daemon's rewrite guard cleaned, retried or left as it was
        (the stream's ``guard`` events: paragraph, outcome, code, reason, attempts)."""
        return self._stream("/v1/rewrite", "rewrite", voice, text, request_id, options, on_guard)

    def stream_continue(
        self, voice: str | None, text: str, request_id: str | None = None, **options: Any
    ) -> Iterator[str]:
        return self._stream("/v1/continue", "continue", voice, text, request_id, options)

    def _stream(
        self,
        path: str,
        action: str,
        voice: str | None,
        text: str,
        request_id: str | None,
        options: dict[str, Any],
        on_guard: Callable[[dict], None] | None = None,
    ) -> Iterator[str]:
        body = _body(voice, text, options)
        body.update(stream=True, request_id=request_id or "req-" + secrets.token_hex(8))
        with self._generating(body["request_id"]):
            for attempt in (1, 2):
                http = self._http
                try:
                    with http.stream("POST", path, json=body) as response:
                        if response.status_code == 401 and attempt == 1 and self._reconnected(http):
                            continue  # refused before generating anything: safe to send again
                        if response.status_code >= 400:
                            response.read()
                            raise _error_from(response)
                        yield from self._pieces(response, body["request_id"], action, on_guard)
                        return
                except httpx.ConnectError as exc:  # nothing was sent, so nothing generated
                    if attempt == 1 and self._reconnected(http):
                        continue
                    raise DaemonUnavailable(_NOT_ANSWERING) from exc
                except httpx.TransportError as exc:
                    raise _stopped(action) from exc

    def _pieces(
        self, response: httpx.Response, request_id: str, action: str, on_guard: Callable[[dict], None] | None = None
    ) -> Iterator[str]:
        finished = False
        for line in response.iter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            if event["type"] == "piece":
                yield event["text"]
            elif event["type"] == "guard" and on_guard is not None:
                on_guard(event)
            elif event["type"] == "error":
                raise DaemonError(event["error"]["message"], 503, event["error"].get("code"))
            elif event["type"] == "done":
                finished = True
                if event.get("finish_reason") == "cancelled":
                    self._check_cancel_was_ours(request_id)
        if not finished:
            raise _stopped(action)


def _find_daemon(paths: Paths | None, start_if_needed: bool, start_timeout: float | None) -> DaemonRecord:
    """The record of the daemon that answers now (``daemon.json`` re-read), starting one when allowed."""
    try:
        record = answering_record(paths)
    except DaemonProcessError as exc:
        raise DaemonUnavailable(str(exc)) from exc
    if record is not None:
        return record
    if not start_if_needed:
        raise DaemonUnavailable("the voiced daemon is not running; start it with `voiced daemon start`")
    try:
        record, _ = start_daemon(paths, timeout=start_timeout)  # None: [daemon] start_timeout_seconds
    except DaemonProcessError as exc:
        raise DaemonUnavailable(str(exc)) from exc
    except Exception as exc:  # a broken config, a lock we cannot create, ...
        raise DaemonUnavailable(f"the voiced daemon could not be started: {exc}") from exc
    return record


def _body(voice: str | None, text: str, options: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, **options}
    if voice is not None:
        body["voice"] = voice
    return body
