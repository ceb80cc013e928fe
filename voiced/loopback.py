"""Which `Host` headers a loopback server answers: its own loopback names only.

A web page can point a name it controls at 127.0.0.1 (DNS rebinding) and so
reach a loopback server from the browser; the browser then still sends that
name as `Host`. Refusing any other name closes that path, whatever the page
knows. The daemon and the arena page share this check.
"""

from __future__ import annotations

import ipaddress

HOST_REFUSED = (
    "This server answers only requests addressed to a loopback name (localhost, 127.0.0.1, [::1]); "
    "this one was addressed to {host!r}. Use http://127.0.0.1:PORT (a page on another name cannot "
    "reach voiced, on purpose)."
)


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, any 127.x.y.z or [::1], each with or without a port; False for anything else."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):  # [::1] or [::1]:port
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not _is_port_suffix(rest)):
            return False
        return _is_loopback_ip(name, version=6)
    name, colon, port = host.partition(":")
    if colon and not _is_port_suffix(":" + port):
        return False
    return name == "localhost" or _is_loopback_ip(name, version=4)


def _is_port_suffix(text: str) -> bool:
    return text.startswith(":") and text[1:].isascii() and text[1:].isdigit() and len(text) <= 6


def _is_loopback_ip(text: str, version: int) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == version and address.is_loopback
