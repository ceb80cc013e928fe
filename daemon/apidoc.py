"""The endpoint table of docs/daemon.md, generated from the OpenAPI schema so it cannot drift."""

from __future__ import annotations


def endpoint_table() -> str:
    from voiced.config import Config
    from voiced.daemon.api import DaemonContext, create_app

    schema = create_app(DaemonContext(config=Config(), token="-")).openapi()
    rows = ["| method | path | what it does |", "| --- | --- | --- |"]
    for path, operations in sorted(schema["paths"].items()):
        for method, operation in operations.items():
            rows.append(f"| {method.upper()} | `{path}` | {operation.get('summary', '')} |")
    return "\n".join(rows)
