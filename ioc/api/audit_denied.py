"""Audit of denied attempts (issue 8, defect 8): every 403 or 404 answered under `/api/`
to a request that carries a valid login token (bearer or session cookie) or an edge's
bearer token is appended to the audit log as `access.denied`, with the method, path and
status; so is every CSRF refusal (`ioc.api.csrf`), whoever sent it.

Why only authenticated requests: the question an auditor asks is "who tried to reach
what they may not see" (a commune officer probing another commune's event ids, an edge
naming another unit's evidence); anonymous 404s are scanners, and writing a row for each
would let anyone fill the table. 401s are audited by the login route (`auth.login_failed`).

The row is written after the response is sent, on its own pooled connection, so a
denial costs the client no extra latency and a failing write never turns a 404 into a 500.

Example::

    app.add_middleware(DeniedAudit)
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request

from ioc.exceptions import IocError
from ioc.services import audit, auth, edges

log = logging.getLogger(__name__)
Scope = dict[str, Any]
DENIED = frozenset({403, 404})


class DeniedAudit:
    """Pure ASGI middleware appending `access.denied` rows for denied API requests."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] in DENIED:
            try:
                await _record(scope, status[0])
            except Exception:  # noqa: BLE001 - the denial stands even if its audit row cannot be written
                log.exception("could not audit a denied request to %s", scope.get("path"))


async def _record(scope: Scope, status: int) -> None:
    from ioc.api.deps import SESSION_COOKIE  # deps imports services; keep the import graph flat

    request = Request(scope)
    app = request.app
    csrf = bool(scope.get("state", {}).get("csrf_refused"))
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    bearer = bearer.strip() if scheme.lower() == "bearer" else ""
    token = bearer or request.cookies.get(SESSION_COOKIE)
    actor: str | None = None
    if token:
        try:
            actor = str(auth.verify_token(app.state.settings, token)["sub"])
        except IocError:
            actor = None
    async with app.state.pool.connection() as conn:
        if actor is None and bearer:
            try:
                actor = f"edge:{(await edges.authenticate(conn, bearer)).id}"
            except IocError:
                actor = None
        if actor is None and not csrf:
            return
        details = {"method": scope.get("method", ""), "path": scope.get("path", "")[:500], "status": status,
                   "ip": request.client.host if request.client else "unknown"}
        if csrf:
            details["reason"] = "csrf"
        await audit.record(conn, actor or "anonymous", "access.denied", f"path:{details['path']}", details)
