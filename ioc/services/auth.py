"""Login tokens: HS256 JWTs signed with `IOC_SECRET_KEY` (PyJWT).

The same token is the bearer token of API clients and the value of the httpOnly session
cookie of pages, so both paths are checked by one function.

Example::

    token = issue_token(settings, user)
    user_id = verify_token(settings, token)["uid"]
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from ioc.exceptions import NotAuthenticated
from ioc.services.users import User
from ioc.settings import Settings

ISSUER = "ioc-hub"
AUDIENCE = "ioc-api"


def issue_token(settings: Settings, user: User, version: int = 0) -> str:
    """A signed token for `user`, valid for `settings.token_ttl_s`; `version` is the user's
    token version (`users.token_version`): bumping it at logout revokes the token."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user.username,
        "uid": user.id,
        "role": user.role,
        "unit": user.unit,
        "ver": version,
        "iat": now,
        "exp": now + settings.token_ttl_s,
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")


def verify_token(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a valid token; NotAuthenticated when it is bad or expired."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "uid"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("session expired; log in again") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"invalid token: {exc}") from exc
    if not isinstance(claims.get("uid"), int):
        raise NotAuthenticated("invalid token: uid")
    return claims
