"""Rough drafts from a local OpenAI-compatible server (LM Studio, Ollama, llama.cpp).

Optional: when the user names a loopback endpoint, a real model writes the
drafts. Any failure (refused, timeout, odd reply, a draft that lost a name or
a number) falls back to offline roughening, and the first failure switches
the endpoint off for the rest of the build, with a note saying why.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from voiced.errors import VoicedError
from voiced.trainer.roughen import RoughDraft, keeps_names_and_numbers, roughen
from voiced.trainer.roughen_signature import WriterProfile

DRAFT_INSTRUCTION = (
    "Rewrite the user's text as a plain, generic first draft: ordinary words, no particular style. "
    "Keep every name and number exactly. Reply with the rewritten text only."
)


class EndpointError(VoicedError):
    """The rough-draft endpoint could not be used.

    It carries no ``fix``: every caller falls back to offline roughening and
    adds what it did instead to the build's notes.
    """


def check_loopback(url: str) -> str:
    """The chat-completions URL for ``url``; only loopback hosts are accepted (nothing leaves the machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"rough_draft_endpoint {url!r} is not an http URL; write it like http://127.0.0.1:1234.")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EndpointError(
            f"rough_draft_endpoint {url!r} is not on this machine; only loopback addresses "
            "(127.0.0.1, ::1, localhost) are allowed, so your prose never leaves it."
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path = (path if path.endswith("/v1") else path + "/v1") + "/chat/completions"
    return f"{parts.scheme}://{parts.netloc}{path}"


def request_draft(url: str, model: str, text: str, seed: int, timeout: float) -> str:
    """One chat completion; the reply's first message content."""
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "system", "content": DRAFT_INSTRUCTION}, {"role": "user", "content": text}],
            "temperature": 0.7,
            "seed": seed,
            "stream": False,
        }
    ).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read().decode("utf-8"))
        return str(reply["choices"][0]["message"]["content"]).strip()
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise EndpointError(f"the rough-draft endpoint {url} failed ({exc})") from exc


class EndpointRoughener:
    """Drafts from the endpoint while it works; offline roughening after the first failure."""

    def __init__(self, url: str, model: str, timeout: float, structural_noise: float) -> None:
        self.model, self.timeout, self.structural_noise = model, timeout, structural_noise
        self.profile: WriterProfile | None = None  # the writer's signature words, set by build_dataset
        self.failures: list[str] = []
        self.fallbacks = 0
        try:
            self.url: str | None = check_loopback(url)
        except EndpointError as exc:
            self.url = None
            self.failures.append(f"{exc} Offline roughening was used instead.")

    @property
    def notes(self) -> list[str]:
        """What the build summary should say about the endpoint."""
        rejected = (
            [
                f"{self.fallbacks} endpoint drafts lost a name or a number or changed nothing; "
                "offline roughening replaced them."
            ]
            if self.fallbacks
            else []
        )
        return [*self.failures, *rejected]

    def __call__(self, text: str, seed: int) -> RoughDraft:
        if self.url is not None:
            try:
                draft = request_draft(self.url, self.model, text, seed, self.timeout)
            except EndpointError as exc:
                self.failures.append(f"{exc}; offline roughening was used for the rest of this build.")
                self.url = None
            else:
                if draft and draft != text.strip() and keeps_names_and_numbers(text, draft):
                    return RoughDraft(draft, "endpoint", source="endpoint")
                self.fallbacks += 1
        return roughen(text, seed, structural_noise=self.structural_noise, profile=self.profile)
