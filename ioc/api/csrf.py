"""CSRF defence for cookie-authenticated requests (issue 8, defect 9).

The session cookie is SameSite=Lax, which still lets a top-level cross-site form POST
carry it in some browsers and always lets a sibling subdomain ("same-site") do so. So
every state-changing request (POST, PUT, PATCH, DELETE) that does not authenticate with
an `Authorization` header must come from this origin:

- `Sec-Fetch-Site` (sent by every current browser, not settable by page scripts) must
  be `same-origin` or `none` (typed in the address bar);
- otherwise `Origin`, when sent, must be this host (the `Host` header's host and port);
- a request with neither header is not from a browser page (curl, API clients, tests)
  and passes: a cross-site form in a browser always sends one of them.

Bearer-token clients (edges, scripts) are not affected: a browser never attaches an
`Authorization` header on its own, so those requests cannot be forged cross-site.
Websocket handshakes carrying the cookie are held to the same origin rule (cross-site
websocket hijacking). A refusal is a 403 `{"detail": ...}` and is audited by
`ioc.api.audit_denied` like any other denied attempt.

Example::

    app.add_middleware(CsrfGuard)
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

Scope = dict[str, Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OK_FETCH_SITES = frozenset({"same-origin", "none"})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _same_host(origin: str, host: str, scheme: str) -> bool:
    """Whether `Origin` names the host the request was sent to."""
    if not origin or origin == "null" or not host:
        return False
    parts = urlsplit(origin)
    if not parts.hostname:
        return False
    target = urlsplit(f"//{host}")
    if (parts.hostname or "").lower() != (target.hostname or "").lower():
        return False
    if target.port is None:
        return True  # no port in Host (default port, or a TLS proxy in front): the host decides
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}
    return (parts.port or default.get(parts.scheme, 0)) == target.port


def cross_site_problem(scope: Scope) -> str | None:
    """Why this request is a forbidden cross-site state change, or None when it may pass."""
    headers = _headers(scope)
    if scope["type"] == "http":
        if scope.get("method", "GET").upper() not in UNSAFE_METHODS:
            return None
        if headers.get("authorization", "").strip():
            return None
    site = headers.get("sec-fetch-site", "").strip().lower()
    origin = headers.get("origin", "").strip()
    if scope["type"] == "websocket" and "ioc_session=" not in headers.get("cookie", ""):
        return None  # a websocket without the cookie authenticates with ?token= or not at all
    if site:
        if site in _OK_FETCH_SITES:
            return None
        return f"cross-site request refused (Sec-Fetch-Site: {site[:32]}); cookie sessions act only from this site"
    if origin:
        if _same_host(origin, headers.get("host", ""), scope.get("scheme", "http")):
            return None
        return "cross-origin request refused (Origin is not this site); cookie sessions act only from this site"
    return None


class CsrfGuard:
    """Pure ASGI middleware: 403 for a cross-site state change without a bearer header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            problem = cross_site_problem(scope)
            if problem is not None:
                scope.setdefault("state", {})["csrf_refused"] = True
                if scope["type"] == "http":
                    body = json.dumps({"detail": problem}).encode()
                    await send({"type": "http.response.start", "status": 403,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                else:
                    await send({"type": "websocket.close", "code": 1008, "reason": "cross-site websocket refused"})
                return
        await self.app(scope, receive, send)
