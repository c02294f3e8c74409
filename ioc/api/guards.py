"""Request guards that run before routing: refuse what no handler may see.

`NulGuard` answers 422 for a NUL character (`%00`) anywhere in the path or the query
string. PostgreSQL text cannot hold NUL, so such a value could only ever fail inside
the database, as a 500; it is refused here, once, for every endpoint, before
authentication and before any SQL.

Example::

    app.add_middleware(NulGuard)
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

Scope = dict[str, Any]


class NulGuard:
    """Pure ASGI middleware: 422 `{"detail": ..., "errors": [...]}` for `%00` in the URL."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            problem = nul_problem(scope)
            if problem is not None:
                if scope["type"] == "http":
                    await _answer_422(send, problem)
                else:  # refuse the websocket handshake
                    await send({"type": "websocket.close", "code": 1008, "reason": problem[0][:120]})
                return
        await self.app(scope, receive, send)


def nul_problem(scope: Scope) -> tuple[str, list[str]] | None:
    """(message, location) when the request's path or query holds a NUL, else None."""
    path = scope.get("path", "")
    raw_path = scope.get("raw_path") or b""
    if "\x00" in path or b"%00" in raw_path or b"\x00" in raw_path:
        return "the path contains a NUL character (%00), which is never valid", ["path"]
    query = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\x00")[:64]
            return (f"query parameter {shown!r} contains a NUL character (%00), which is never valid",
                    ["query", shown])
    return "the query string contains a NUL character (%00), which is never valid", ["query"]


async def _answer_422(send: Any, problem: tuple[str, list[str]]) -> None:
    message, loc = problem
    body = json.dumps({"detail": message, "errors": [{"loc": loc, "msg": message, "type": "nul_character"}]}).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
