"""Login throttling, trusted proxies, logout revocation, the password policy and tokens
kept out of the hub log (issue 8, defects 12 and 13). Real PostgreSQL, real hub."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import AsyncIterator

import httpx
import psycopg
import pytest
import uvicorn
from websockets.asyncio.client import connect

from ioc.api.app import create_app
from ioc.exceptions import InvalidInput
from ioc.services import users
from ioc.settings import Settings
from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub


async def _serve(settings: Settings, *, log_level: str = "warning") -> tuple[Hub, asyncio.Task[None]]:
    """A hub the way `ioc hub` runs it: uvicorn's own proxy header handling off."""
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="on",
                            proxy_headers=False, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "hub did not start"
    base = f"http://127.0.0.1:{port}"
    return Hub(app, base, httpx.AsyncClient(base_url=base, timeout=15), server), task


async def _stop(hub: Hub, task: asyncio.Task[None]) -> None:
    await hub.client.aclose()
    hub.server.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture
async def proxied(hub_settings: Settings) -> AsyncIterator[Hub]:
    """A hub behind a trusted proxy on 127.0.0.1 (X-Forwarded-For names the client)."""
    running, task = await _serve(hub_settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]}))
    try:
        yield running
    finally:
        await _stop(running, task)


@pytest.fixture
async def direct(hub_settings: Settings) -> AsyncIterator[Hub]:
    """A hub with no trusted proxy: X-Forwarded-For from anyone means nothing."""
    running, task = await _serve(hub_settings)
    try:
        yield running
    finally:
        await _stop(running, task)


async def _login(hub: Hub, username: str, password: str, ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    r = await hub.client.post("/api/v1/auth/login", json={"username": username, "password": password}, headers=headers)
    hub.client.cookies.clear()
    return r


async def test_a_stranger_cannot_lock_an_account(proxied: Hub, db: psycopg.AsyncConnection) -> None:
    make = Factory(db, proxied)
    tree = await make.tree()
    victim = await make.user("operator", tree.province, login=False)
    attacker_ip, victim_ip = "203.0.113.7", "198.51.100.9"
    codes = [(await _login(proxied, victim.user.username, "wrong-guess-x", attacker_ip)).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    # The attacker's address is throttled for this account, even with the right password...
    assert (await _login(proxied, victim.user.username, victim.password, attacker_ip)).status_code == 429
    # ...but the account's owner, elsewhere, logs in (on main: 429, the account was locked).
    assert (await _login(proxied, victim.user.username, victim.password, victim_ip)).status_code == 200
    cur = await db.execute("SELECT details->>'ip' AS ip FROM audit_log WHERE actor = %s AND action = 'auth.login'",
                           (victim.user.username,))
    assert [r["ip"] for r in await cur.fetchall()] == [victim_ip]


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(direct: Hub, db: psycopg.AsyncConnection) -> None:
    make = Factory(db, direct)
    tree = await make.tree()
    target = await make.user("viewer", tree.province, login=False)
    # A new X-Forwarded-For every try used to be a fresh budget every try.
    codes = [(await _login(direct, target.user.username, "wrong-guess-x", f"192.0.2.{i}")).status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    cur = await db.execute("SELECT DISTINCT details->>'ip' AS ip FROM audit_log WHERE actor = %s", (target.user.username,))
    assert [r["ip"] for r in await cur.fetchall()] == ["127.0.0.1"]


async def test_one_address_trying_many_accounts_is_throttled(hub_settings: Settings, db: psycopg.AsyncConnection) -> None:
    running, task = await _serve(hub_settings.model_copy(update={"login_attempts_per_address": 3}))
    try:
        make = Factory(db, running)
        tree = await make.tree()
        people = [await make.user("viewer", tree.province, login=False) for _ in range(4)]
        codes = [(await _login(running, p.user.username, "wrong-guess-x")).status_code for p in people[:3]]
        assert codes == [401, 401, 401]
        assert (await _login(running, people[3].user.username, people[3].password)).status_code == 429
    finally:
        await _stop(running, task)


async def test_logout_revokes_the_token(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province)
    assert (await hub.client.get("/api/v1/auth/me", headers=op.headers)).status_code == 200
    assert (await hub.client.post("/api/v1/auth/logout", headers=op.headers)).status_code == 204
    # On main the token kept working until it expired (12 h).
    r = await hub.client.get("/api/v1/auth/me", headers=op.headers)
    assert r.status_code == 401 and "logged out" in r.text
    # The session cookie of the same login is dead too; a new login works.
    assert (await hub.client.get("/api/v1/auth/me", cookies={"ioc_session": op.token})).status_code == 401
    again = await _login(hub, op.user.username, op.password)
    assert again.status_code == 200
    token = again.json()["access_token"]
    assert (await hub.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_cookie_logout_revokes_the_cookie(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province, login=False)
    async with httpx.AsyncClient(base_url=hub.base_url) as browser:
        assert (await browser.post("/api/v1/auth/login", json={"username": op.user.username, "password": op.password})).status_code == 200
        cookie = browser.cookies["ioc_session"]
        assert (await browser.post("/api/v1/auth/logout", headers={"Origin": hub.base_url})).status_code == 204
    assert (await hub.client.get("/api/v1/auth/me", cookies={"ioc_session": cookie})).status_code == 401


async def test_the_pages_logout_link_revokes_the_cookie(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province, login=False)
    async with httpx.AsyncClient(base_url=hub.base_url) as browser:
        assert (await browser.post("/api/v1/auth/login", json={"username": op.user.username, "password": op.password})).status_code == 200
        cookie = browser.cookies["ioc_session"]
        r = await browser.get("/logout")  # the topbar's link
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await hub.client.get("/api/v1/auth/me", cookies={"ioc_session": cookie})).status_code == 401


@pytest.mark.parametrize("password", [
    "password", "12345678", "Password", "PASSWORD123", "qwertyuiop", "matkhau123", "aaaaaaaaaa", "abababab", "short",
])
async def test_weak_passwords_are_refused(hub: Hub, make: Factory, db: psycopg.AsyncConnection, password: str) -> None:
    tree = await make.tree()
    admin = await make.user("admin", tree.province)
    name = f"weak_{secrets.token_hex(3)}"
    r = await hub.client.post("/api/v1/users", headers=admin.headers,
                              json={"username": name, "password": password, "role": "viewer", "unit": tree.province})
    assert r.status_code == 422, r.text
    assert await (await db.execute("SELECT 1 FROM users WHERE username = %s", (name,))).fetchone() is None


async def test_password_policy_in_the_service(db: psycopg.AsyncConnection, make: Factory) -> None:
    tree = await make.tree()
    name = f"same_{secrets.token_hex(3)}"
    with pytest.raises(InvalidInput, match="username"):
        await users.create(db, username=name, password=name.upper(), role="viewer", unit=tree.province)
    with pytest.raises(InvalidInput, match="common"):
        users.hash_password("iloveyou")
    assert users.hash_password("Ba con ngựa 2026").startswith("$argon2id$")


async def test_tokens_in_urls_never_reach_the_hub_log(hub_settings: Settings, db: psycopg.AsyncConnection,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    running, task = await _serve(hub_settings, log_level="info")
    watched = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error")]
    for logger in watched:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.INFO)
    try:
        make = Factory(db, running)
        tree = await make.tree()
        op = await make.user("operator", tree.province)
        async with connect(running.base_url.replace("http", "ws", 1) + f"/ws/events?token={op.token}"):
            pass
        await running.client.get(f"/api/v1/auth/me?token={op.token}", headers=op.headers)
        await asyncio.sleep(0.2)
    finally:
        for logger in watched:
            logger.removeHandler(caplog.handler)
        await _stop(running, task)
    text = caplog.text
    assert "/ws/events?token=[redacted]" in text and "/api/v1/auth/me?token=[redacted]" in text, text
    # Not the whole token, and not its signature either.
    assert op.token not in text and op.token.rsplit(".", 1)[1] not in text
