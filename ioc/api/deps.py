"""Dependencies every hub router and page uses (the auth API of TEAM.md).

    Db            a pooled connection (autocommit, dict rows) for this request
    CurrentUser   the logged-in `User` from the bearer JWT or the session cookie, else 401
    PageUser      the same for HTML pages, but redirects to /login?next=... instead of 401
    CurrentEdge   the `Edge` owning the bearer token of an edge worker, else 401
    require_roles("admin", "operator")   403 unless the user has one of the roles
    AppSettings   the process `Settings`

Example::

    @router.get("/api/v1/things")
    async def things(user: CurrentUser, db: Db) -> list[str]:
        if not await in_scope(db, user.unit, "0101"):
            raise PermissionDenied("outside your unit")
        ...

    @router.post("/api/v1/things", dependencies=[Depends(require_roles("admin"))])
    async def make(user: CurrentUser, db: Db) -> None: ...
"""

from __future__ import annotations

from typing import Annotated, AsyncIterator, Callable
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, WebSocket, status
from psycopg import AsyncConnection

from ioc.exceptions import NotAuthenticated, PermissionDenied
from ioc.services import auth, edges, users
from ioc.services.edges import Edge
from ioc.services.users import User
from ioc.settings import Settings

SESSION_COOKIE = "ioc_session"


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[AsyncConnection]:
    """One pooled connection per request, returned to the pool afterwards."""
    async with request.app.state.pool.connection() as conn:
        yield conn


Db = Annotated[AsyncConnection, Depends(get_db)]


def _bearer(request: Request | WebSocket) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def user_from_token(conn: AsyncConnection, settings: Settings, token: str) -> User:
    """The enabled user a login token names; NotAuthenticated otherwise.

    The user is read from the database so that disabling a user or changing their role
    takes effect at once, not when the token expires; a token older than the user's last
    logout (its `ver` claim below the user's token version) is refused."""
    claims = auth.verify_token(settings, token)
    found = await users.get_for_token(conn, claims["uid"])
    if found is None:
        raise NotAuthenticated("user no longer exists or is disabled")
    user, version = found
    if claims.get("ver", 0) != version:
        raise NotAuthenticated("session ended (logged out); log in again")
    return user


def token_of(request: Request | WebSocket) -> str | None:
    """The login token of a request: bearer header first, then the session cookie
    (then `?token=` on websockets, where browsers cannot set headers)."""
    token = _bearer(request) or request.cookies.get(SESSION_COOKIE)
    if token is None and isinstance(request, WebSocket):
        token = request.query_params.get("token")
    return token


async def get_current_user(request: Request, db: Db, settings: AppSettings) -> User:
    """The logged-in user, else 401."""
    token = token_of(request)
    if not token:
        raise NotAuthenticated("not logged in: send a bearer token or the session cookie")
    return await user_from_token(db, settings, token)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_page_user(request: Request, db: Db, settings: AppSettings) -> User:
    """The logged-in user for pages; anyone else is sent to the login page."""
    try:
        return await get_current_user(request, db, settings)
    except NotAuthenticated:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            status_code=status.HTTP_303_SEE_OTHER,
            detail="login required",
            headers={"Location": f"/login?next={quote(target, safe='')}"},
        ) from None


PageUser = Annotated[User, Depends(get_page_user)]


async def get_current_edge(request: Request, db: Db) -> Edge:
    """The edge worker owning the bearer token, else 401."""
    token = _bearer(request)
    if not token:
        raise NotAuthenticated("edge bearer token required")
    return await edges.authenticate(db, token)


CurrentEdge = Annotated[Edge, Depends(get_current_edge)]


def require_roles(*roles: str) -> Callable[..., object]:
    """A dependency that passes the user through when their role is one of `roles`, else 403.

    Example::

        Police = Annotated[User, Depends(require_roles("admin", "police"))]
    """
    unknown = set(roles) - set(users.ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise PermissionDenied(f"role {user.role!r} may not do this (needs one of: {', '.join(roles)})")
        return user

    return check
