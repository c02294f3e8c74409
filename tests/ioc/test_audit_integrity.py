"""Audit rows the app cannot forge, an owner the app's connection cannot reach, and denied
attempts in the log (issue 8, defect 8). Real PostgreSQL, real hub."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from ioc.db import open_pool
from ioc.db.app_login import open_app_pool
from ioc.exceptions import ConfigError
from ioc.services import audit
from ioc.settings import Settings
from tests.ioc.conftest import Factory, Hub, start_hub, stop_hub


def _as(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{user}@{parts.hostname}:{parts.port or 5432}", parts.path, parts.query, ""))


@pytest.fixture
async def login_role(db: psycopg.AsyncConnection) -> AsyncIterator[str]:
    """A login role that is only a member of ioc_app, as docs/security.md tells to create."""
    name = f"ioc_t_hub_{secrets.token_hex(3)}"
    await db.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE ioc_app").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        await db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


async def test_the_app_cannot_back_date_an_audit_row(db: psycopg.AsyncConnection) -> None:
    async with db.transaction(force_rollback=True):
        await db.execute("SET LOCAL ROLE ioc_app")
        cur = await db.execute(
            "INSERT INTO audit_log (at, actor, action, db_login, db_role) VALUES"
            " ('2001-01-01T00:00:00Z', 'someone', 'test.backdated', 'nobody', 'nobody')"
            " RETURNING at, db_login, db_role"
        )
        row = await cur.fetchone()
    # On main `at` stayed 2001-01-01: a row could be slipped into the past.
    assert abs(row["at"] - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert (row["db_login"], row["db_role"]) == ("postgres", "ioc_app")


async def test_set_role_alone_leaves_the_owner_reachable(hub_settings: Settings) -> None:
    """Why IOC_APP_DATABASE_URL exists: with only IOC_DB_ROLE, RESET ROLE gives the owner back."""
    pool = await open_pool(hub_settings)
    try:
        async with pool.connection() as conn, conn.transaction(force_rollback=True):
            await conn.execute("RESET ROLE")
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")  # the hole, documented
    finally:
        await pool.close()


async def test_a_separate_login_role_cannot_reach_the_owner(hub_settings: Settings, login_role: str,
                                                            db: psycopg.AsyncConnection) -> None:
    settings = hub_settings.model_copy(update={"app_database_url": _as(hub_settings.database_url, login_role)})
    pool = await open_app_pool(settings)
    try:
        async with pool.connection() as conn:
            await conn.execute("RESET ROLE")
            who = await (await conn.execute("SELECT session_user AS s, current_user AS c")).fetchone()
            assert who == {"s": login_role, "c": login_role}
            for statement in ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change",
                              "ALTER TABLE audit_log DISABLE TRIGGER audit_log_stamp",
                              "DROP TRIGGER audit_log_no_change ON audit_log",
                              "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
                              "SET ROLE postgres"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    await conn.execute(statement)
            # It still does the hub's work (privileges come from ioc_app).
            row_id = await audit.record(conn, "tester", "test.login_role", "t", {})
        cur = await db.execute("SELECT db_login, db_role FROM audit_log WHERE id = %s", (row_id,))
        assert await cur.fetchone() == {"db_login": login_role, "db_role": login_role}
    finally:
        await pool.close()


async def test_the_owner_is_refused_as_the_app_login(hub_settings: Settings) -> None:
    settings = hub_settings.model_copy(update={"app_database_url": hub_settings.database_url})
    with pytest.raises(ConfigError, match="owner of the audit log"):
        await open_app_pool(settings)


async def _denied(db: psycopg.AsyncConnection, actor: str, want: int) -> list[tuple[str, str, int]]:
    for _ in range(100):
        cur = await db.execute("SELECT details FROM audit_log WHERE action = 'access.denied' AND actor = %s ORDER BY id",
                               (actor,))
        rows = [(r["details"]["method"], r["details"]["path"], r["details"]["status"]) for r in await cur.fetchall()]
        if len(rows) >= want:
            return rows
        await asyncio.sleep(0.05)
    return rows


async def test_denied_attempts_are_audited(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[1], cameras=[(cam, tree.communes[1])])
    event = make.event(edge, cam)
    assert (await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)).status_code == 200
    snoop = await make.user("operator", tree.communes[0])
    viewer = await make.user("viewer", tree.communes[0])
    eid = event["id"]
    assert (await hub.client.get(f"/api/v1/events/{eid}", headers=snoop.headers)).status_code == 404
    assert (await hub.client.post(f"/api/v1/events/{eid}/ack", headers=snoop.headers)).status_code == 404
    assert (await hub.client.get("/api/v1/evidence/" + "0" * 64, headers=snoop.headers)).status_code == 404
    r = await hub.client.post("/api/v1/users", headers=viewer.headers,
                              json={"username": "x_" + secrets.token_hex(3), "password": "Long enough 2026",
                                    "role": "admin", "unit": tree.province})
    assert r.status_code == 403
    assert await _denied(db, snoop.user.username, 3) == [
        ("GET", f"/api/v1/events/{eid}", 404),
        ("POST", f"/api/v1/events/{eid}/ack", 404),
        ("GET", "/api/v1/evidence/" + "0" * 64, 404),
    ]
    assert await _denied(db, viewer.user.username, 1) == [("POST", "/api/v1/users", 403)]
    # An edge naming another unit's event is audited under its own name; strangers are not (no flooding).
    other = await make.edge(tree.communes[0])
    assert (await hub.client.get(f"/api/v1/events/{eid}", headers=other.headers)).status_code in (401, 403, 404)
    assert (await hub.client.get(f"/api/v1/events/{eid}")).status_code == 401
    assert (await hub.client.get("/api/v1/no-such-thing")).status_code == 404
    cur = await db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'access.denied' AND actor = 'anonymous'")
    assert (await cur.fetchone())["n"] == 0


async def test_the_hub_runs_as_its_own_login(hub_settings: Settings, login_role: str, db: psycopg.AsyncConnection) -> None:
    settings = hub_settings.model_copy(update={"app_database_url": _as(hub_settings.database_url, login_role),
                                               "db_role": None})
    running, task = await start_hub(settings)
    try:
        make = Factory(db, running)
        tree = await make.tree()
        admin = await make.user("admin", tree.province)
        assert (await running.client.get("/api/v1/audit", headers=admin.headers)).status_code == 200
    finally:
        await stop_hub(running, task)
    cur = await db.execute("SELECT db_login FROM audit_log WHERE actor = %s AND action = 'auth.login'",
                           (admin.user.username,))
    assert [r["db_login"] for r in await cur.fetchall()] == [login_role]
