"""Join tokens: every kind of bad token is refused with its own reason."""

from __future__ import annotations

import time

import jwt
import pytest

from conferencing import exceptions as exc
from contract.tokens import issue_join_token, verify_join_token

SECRET = "test-relay-secret-0123456789abcdef"
BASE = dict(room="m-1", sub="u-1", name="Chủ tọa Tỉnh", unit="26", role="chair", pub=True)


def test_round_trip_keeps_claims() -> None:
    token = issue_join_token(**BASE, secret=SECRET, ttl_s=60)
    claims = verify_join_token(token, room="m-1", secret=SECRET)
    assert (claims.room, claims.sub, claims.name, claims.unit, claims.role, claims.pub) == (
        "m-1", "u-1", "Chủ tọa Tỉnh", "26", "chair", True)
    assert claims.exp - claims.iat == 60
    assert claims.can_publish


def _raw(payload: dict, key: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


def _claims(**over: object) -> dict:
    now = int(time.time())
    data = {**BASE, "iss": "ioc-hub", "aud": "ioc-relay", "iat": now, "exp": now + 60}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: None, exc.TokenMissing),
        (lambda: "", exc.TokenMissing),
        (lambda: "not.a.jwt", exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(iat=int(time.time()) - 400, exp=int(time.time()) - 100)), exc.TokenExpired),
        (lambda: _raw(_claims(), key="another-secret-0123456789abcdefgh"), exc.TokenSignatureInvalid),
        (lambda: _raw(_claims(room="m-2")), exc.TokenWrongRoom),
        (lambda: _raw(_claims(aud="someone-else")), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(iss="evil")), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(role="admin")), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(pub="yes")), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(room="bad room/..")), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(exp=int(time.time()) + 3600)), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(exp=None)), exc.TokenClaimsInvalid),
        (lambda: _raw(_claims(), key=SECRET * 2, alg="HS512"), exc.TokenSignatureInvalid),
    ],
    ids=["none", "empty", "garbage", "expired", "forged", "other-room", "audience", "issuer", "role", "pub",
         "room-chars", "too-long-lived", "no-exp", "wrong-alg"],
)
def test_bad_tokens_refused(make, error: type[Exception]) -> None:
    token = make()  # built now: a token made at collection time could expire before the test runs
    with pytest.raises(error):
        verify_join_token(token, room="m-1", secret=SECRET)


def test_unsigned_token_refused() -> None:
    token = jwt.encode(_claims(), None, algorithm="none")
    with pytest.raises(exc.TokenError):
        verify_join_token(token, room="m-1", secret=SECRET)


@pytest.mark.parametrize("ttl", [0, 601, -5])
def test_issue_refuses_bad_ttl(ttl: int) -> None:
    with pytest.raises(exc.TokenClaimsInvalid):
        issue_join_token(**BASE, secret=SECRET, ttl_s=ttl)


def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_RELAY_SECRET", SECRET)
    claims = verify_join_token(issue_join_token(**BASE), room="m-1")
    assert claims.sub == "u-1"
    monkeypatch.delenv("IOC_RELAY_SECRET")
    with pytest.raises(exc.TokenClaimsInvalid, match="IOC_RELAY_SECRET"):
        issue_join_token(**BASE)


def test_injected_clock_expires() -> None:
    token = issue_join_token(**BASE, secret=SECRET, ttl_s=30, now=1_000_000)
    assert verify_join_token(token, secret=SECRET, now=1_000_010).sub == "u-1"
    with pytest.raises(exc.TokenExpired):
        verify_join_token(token, secret=SECRET, now=1_000_100)
