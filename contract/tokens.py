"""Join tokens: short-lived JWTs (HS256) that let one endpoint into one meeting room.

The hub issues them to logged-in officials (and to child relays); the relay verifies them
before a participant may signal. The contract (TEAM.md) is fixed:

- signed with HS256 and the shared secret ``IOC_RELAY_SECRET``;
- ``iss="ioc-hub"``, ``aud="ioc-relay"``;
- ``room`` (meeting id), ``sub`` (participant id), ``name``, ``unit``,
  ``role`` in chair | participant | viewer | relay, ``pub`` (may publish media);
- ``exp`` at most 10 minutes after ``iat``.

PyJWT does the signature, expiry, issuer and audience checks; this module adds the
claim shapes and turns PyJWT's errors into the `contract.exceptions.TokenError` tree.

Example::

    token = issue_join_token(room="m-42", sub="u-7", name="Nguyễn Văn A", unit="26734",
                             role="participant", pub=True, secret="s3cret")
    claims = verify_join_token(token, room="m-42", secret="s3cret")
    assert claims.role == "participant"
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

import jwt

from contract.exceptions import (
    TokenClaimsInvalid,
    TokenExpired,
    TokenMissing,
    TokenSignatureInvalid,
    TokenWrongRoom,
)

Role = Literal["chair", "participant", "viewer", "relay"]
ROLES: tuple[str, ...] = get_args(Role)
ISSUER = "ioc-hub"
AUDIENCE = "ioc-relay"
ALGORITHM = "HS256"
MAX_TTL_S = 600
SECRET_ENV = "IOC_RELAY_SECRET"
# Room, subject and unit ids travel in URLs and logs: keep them plain.
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
# Clock skew between hub and relay hosts that we tolerate on exp/iat.
LEEWAY_S = 5


@dataclass(frozen=True, slots=True)
class JoinClaims:
    """The verified content of a join token.

    Example::

        claims = verify_join_token(token, room="m-42")
        if claims.role == "chair": ...
    """

    room: str
    sub: str
    name: str
    unit: str
    role: Role
    pub: bool
    exp: int
    iat: int
    relay: str | None = None
    """Unit of the relay this token is for (the hub names the relay it chose); a relay
    refuses a token naming another relay (issue 8, item 16)."""

    @property
    def can_publish(self) -> bool:
        """Viewers never publish, whatever `pub` says."""
        return self.pub and self.role != "viewer"


def relay_secret(secret: str | None = None) -> str:
    """The HS256 secret: the argument, else ``$IOC_RELAY_SECRET``; refuses short secrets."""
    value = secret if secret is not None else os.environ.get(SECRET_ENV, "")
    if len(value) < 8:
        raise TokenClaimsInvalid(
            f"relay secret missing or shorter than 8 characters: set {SECRET_ENV} (same value on hub and relays)",
            code="secret_missing",
        )
    return value


def issue_join_token(
    *,
    room: str,
    sub: str,
    name: str,
    unit: str,
    role: Role,
    pub: bool,
    ttl_s: int = 300,
    secret: str | None = None,
    now: float | None = None,
    relay: str | None = None,
) -> str:
    """Sign a join token for `sub` into `room`; `ttl_s` is 1..600 seconds; `relay`, the unit
    of the one relay that may admit it."""
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise TokenClaimsInvalid(f"ttl_s must be 1..{MAX_TTL_S} seconds, got {ttl_s}")
    fields: dict[str, Any] = {"room": room, "sub": sub, "name": name, "unit": unit, "role": role, "pub": pub}
    if relay is not None:
        fields["relay"] = relay
    claims = _validate_claims(fields)
    issued = int(now if now is not None else time.time())
    payload = {**claims, "iss": ISSUER, "aud": AUDIENCE, "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(payload, relay_secret(secret), algorithm=ALGORITHM)


def verify_join_token(
    token: str | None,
    *,
    room: str | None = None,
    secret: str | None = None,
    now: float | None = None,
) -> JoinClaims:
    """Verify signature, issuer, audience, expiry and claims; with `room`, also the room.

    Raises a `TokenError` subclass naming the reason; never returns partial claims.
    """
    if not token or not isinstance(token, str):
        raise TokenMissing("no join token given")
    if len(token) > 4096:
        raise TokenClaimsInvalid("join token longer than 4096 characters")
    key = relay_secret(secret)
    options: dict[str, Any] = {"require": ["exp", "iat", "iss", "aud", "sub"]}
    try:
        if now is None:
            payload = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY_S, options=options
            )
        else:
            # A caller-supplied clock (tests, replays): check exp ourselves against it.
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={**options, "verify_exp": False, "verify_iat": False},
            )
            if int(payload.get("exp", 0)) + LEEWAY_S < now:
                raise TokenExpired("join token expired")
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("join token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenSignatureInvalid("join token signature does not verify (forged or signed with another secret)") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenClaimsInvalid(f"join token audience is not {AUDIENCE!r}") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenClaimsInvalid(f"join token issuer is not {ISSUER!r}") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenSignatureInvalid(f"join token must be signed with {ALGORITHM}") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenClaimsInvalid(f"join token lacks claim {exc.claim!r}") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenClaimsInvalid(f"join token is malformed: {exc}") from exc
    exp, iat = payload.get("exp"), payload.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int) or exp - iat > MAX_TTL_S + LEEWAY_S:
        raise TokenClaimsInvalid(f"join token lifetime must be at most {MAX_TTL_S} s")
    claims = _validate_claims(payload)
    if room is not None and claims["room"] != room:
        raise TokenWrongRoom(f"join token is for room {claims['room']!r}, not {room!r}")
    return JoinClaims(**claims, exp=exp, iat=iat)


def _validate_claims(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("room", "sub", "unit"):
        value = payload.get(field)
        if not isinstance(value, str) or not _ID.match(value):
            raise TokenClaimsInvalid(f"join token claim {field!r} must match {_ID.pattern}, got {value!r}")
        out[field] = value
    name = payload.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise TokenClaimsInvalid("join token claim 'name' must be 1..200 characters")
    out["name"] = name
    role = payload.get("role")
    if role not in ROLES:
        raise TokenClaimsInvalid(f"join token claim 'role' must be one of {ROLES}, got {role!r}")
    out["role"] = role
    pub = payload.get("pub")
    if not isinstance(pub, bool):
        raise TokenClaimsInvalid("join token claim 'pub' must be true or false")
    out["pub"] = pub
    if "relay" in payload:
        relay = payload["relay"]
        if not isinstance(relay, str) or not _ID.match(relay):
            raise TokenClaimsInvalid(f"join token claim 'relay' must match {_ID.pattern}, got {relay!r}")
        out["relay"] = relay
    return out
