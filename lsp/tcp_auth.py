"""The token a TCP client of `voiced lsp --port` must present, kept in a file only the user can read."""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from voiced.paths import get_paths
from voiced.private_files import write_private


def token_file() -> Path:
    return get_paths().state_dir / "lsp-tcp.json"


def publish_token(port: int) -> str:
    """Write a fresh token with the port (0600, in the private state directory) and return it."""
    paths = get_paths()
    paths.ensure_private(paths.state_dir)
    token = secrets.token_urlsafe(32)
    record = {"host": "127.0.0.1", "port": port, "pid": os.getpid(), "token": token}
    write_private(token_file(), json.dumps(record))
    return token


def token_matches(initialization_options: Any, expected: str) -> bool:
    """Compared in constant time on bytes: any text a client sends (non-ASCII, lone surrogates) is just unequal."""
    given = initialization_options.get("token") if isinstance(initialization_options, dict) else None
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def read_published() -> dict | None:
    """The record of the running TCP server (host, port, pid, token), or None when there is none."""
    try:
        return json.loads(token_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def withdraw_token(pid: int) -> None:
    """Remove the token file when it still names this server (a newer server may have replaced it)."""
    record = read_published()
    if record is not None and record.get("pid") == pid:
        token_file().unlink(missing_ok=True)
