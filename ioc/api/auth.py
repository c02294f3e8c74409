"""Login, logout and "who am I".

`POST /api/v1/auth/login` answers `{"access_token", "token_type": "bearer"}` and sets the
same token as an httpOnly, SameSite=Lax session cookie for the pages.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ioc.api.deps import SESSION_COOKIE, AppSettings, CurrentUser, Db
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
    token = auth.issue_token(settings, user)
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


@router.post("/logout", status_code=204, summary="Clear the session cookie")
async def logout(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=User, summary="The logged-in user")
async def me(user: CurrentUser) -> User:
    return user
