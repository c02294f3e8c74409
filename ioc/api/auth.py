"""Login, logout and "who am I".

`POST /api/v1/auth/login` answers `{"access_token", "token_type": "bearer"}` and sets the
same token as an httpOnly, SameSite=Lax session cookie for the pages. Failed logins are
throttled per (address, account) and per address (`ioc.api.ratelimit`), never per account
alone, so nobody can lock someone else out. `POST /api/v1/auth/logout` revokes every token
of the user issued so far (their token version goes up), not just the cookie.
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ioc.api.deps import SESSION_COOKIE, AppSettings, CurrentUser, Db, token_of, user_from_token
from ioc.exceptions import NotAuthenticated
from ioc.services import audit, auth, users
from ioc.services.users import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    """Credentials."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    """A bearer token (also set as the session cookie)."""

    access_token: str
    token_type: str = "bearer"


@router.post("/login", response_model=TokenResponse, summary="Log in (JSON), get a bearer token and the session cookie")
async def login(body: LoginRequest, request: Request, response: Response, db: Db, settings: AppSettings) -> TokenResponse:
    limiter = request.app.state.login_limiter
    address = request.client.host if request.client else "unknown"
    limiter.check(address, body.username)
    user = await users.authenticate(db, body.username, body.password)
    if user is None:
        limiter.failed(address, body.username)
        request.app.state.metrics.logins.labels(result="failed").inc()
        await audit.record(db, body.username, "auth.login_failed", f"user:{body.username}", {"ip": address})
        raise NotAuthenticated("wrong username or password")
    limiter.succeeded(address, body.username)
    request.app.state.metrics.logins.labels(result="ok").inc()
    await audit.record(db, user.username, "auth.login", f"user:{user.username}", {"ip": address})
    token = auth.issue_token(settings, user, await users.token_version(db, user.id))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return TokenResponse(access_token=token)


@router.post("/logout", status_code=204, summary="Revoke the user's tokens and clear the session cookie")
async def logout(request: Request, response: Response, db: Db, settings: AppSettings) -> Response:
    token = token_of(request)
    if token:
        try:
            user = await user_from_token(db, settings, token)
        except NotAuthenticated:
            user = None  # already logged out or expired: nothing to revoke
        if user is not None:
            await users.revoke_tokens(db, user.id)
            await audit.record(db, user.username, "auth.logout", f"user:{user.username}", {})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=User, summary="The logged-in user")
async def me(user: CurrentUser) -> User:
    return user


# Browsers cannot set headers on websockets, so walls send `?token=<JWT>`; uvicorn logs
# each handshake's path with its query ("WebSocket /api/v1/ws?token=..." [accepted]) and
# each request line in the access log. A login token in a log file is a session anyone
# reading the log can take over (issue 8, defect 13).
_TOKEN_IN_URL = re.compile(r"((?:^|[?&;\s])(?:token|access_token|join_token)=)[^&\s\"']+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with the value of every `token=` query parameter replaced by [redacted]."""
    return _TOKEN_IN_URL.sub(lambda m: m.group(1) + REDACTED, text)


class TokenRedactor(logging.Filter):
    """A logging filter that redacts `token=` values in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token" in record.msg.lower():
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) and "=" in a else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) and "=" in v else v for k, v in record.args.items()}
        return True


_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "ioc")


def install_log_redaction() -> None:
    """Attach one `TokenRedactor` to the loggers that see request URLs (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) for f in logger.filters):
            logger.addFilter(TokenRedactor())
