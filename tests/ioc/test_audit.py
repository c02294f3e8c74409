"""Audit: written for logins, evidence views, acknowledgements and user changes; the
application's role cannot change or delete it (and the owner is stopped by triggers)."""

from __future__ import annotations

import hashlib
import secrets

import psycopg
import pytest
from psycopg import sql

from tests.ioc.conftest import Factory, Hub


async def _audit(db: psycopg.AsyncConnection, actor: str) -> list[tuple[str, str]]:
    cur = await db.execute("SELECT action, target FROM audit_log WHERE actor = %s ORDER BY id", (actor,))
    return [(r["action"], r["target"]) for r in await cur.fetchall()]


async def test_actions_are_audited(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    data = secrets.token_bytes(500)
    sha = hashlib.sha256(data).hexdigest()
    event = make.event(edge, cam, evidence=[{"sha256": sha, "kind": "plate", "mime": "image/png"}])
    await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)
    await hub.client.put(f"/api/v1/evidence/{sha}", content=data, headers=edge.headers | {"Content-Type": "image/png"})
    admin = await make.user("admin", tree.province)
    bad = await hub.client.post("/api/v1/auth/login", json={"username": admin.user.username, "password": "nope-nope"})
    assert bad.status_code == 401

    assert (await hub.client.get(f"/api/v1/evidence/{sha}", headers=admin.headers)).status_code == 200
    assert (await hub.client.post(f"/api/v1/events/{event['id']}/ack", headers=admin.headers)).status_code == 200
    new_name = f"police_{secrets.token_hex(3)}"
    r = await hub.client.post("/api/v1/users", headers=admin.headers,
                              json={"username": new_name, "password": "long-enough-pw", "role": "police", "unit": tree.communes[0]})
    assert r.status_code == 201, r.text
    r = await hub.client.put(f"/api/v1/users/{r.json()['id']}/role", headers=admin.headers,
                             json={"role": "viewer", "unit": tree.communes[1]})
    assert r.status_code == 200

    assert await _audit(db, admin.user.username) == [
        ("auth.login", f"user:{admin.user.username}"),
        ("auth.login_failed", f"user:{admin.user.username}"),
        ("evidence.view", f"evidence:{sha}"),
        ("event.ack", f"event:{event['id']}"),
        ("user.create", f"user:{new_name}"),
        ("user.role_change", f"user:{new_name}"),
    ]
    assert await _audit(db, f"edge:{edge.id}") == [("evidence.upload", f"evidence:{sha}")]
    listed = (await hub.client.get("/api/v1/audit", params={"action": "user."}, headers=admin.headers)).json()["items"]
    assert [i["action"] for i in listed[:2]] == ["user.role_change", "user.create"]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log", "TRUNCATE audit_log"],
)
async def test_app_role_cannot_change_or_delete_audit_rows(db: psycopg.AsyncConnection, statement: str) -> None:
    await db.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES ('tester', 'test.row', 't', '{}')"
    )
    before = (await (await db.execute("SELECT count(*) AS n FROM audit_log")).fetchone())["n"]
    # As the role the hub runs as (IOC_DB_ROLE=ioc_app): no privilege at all.
    async with db.transaction(force_rollback=True):
        await db.execute(sql.SQL("SET LOCAL ROLE ioc_app"))
        await db.execute("INSERT INTO audit_log (actor, action) VALUES ('app', 'test.app_insert')")  # may append
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            async with db.transaction():
                await db.execute(statement)
    # Even the owning role is stopped by the append-only triggers.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        await db.execute(statement)
    after = (await (await db.execute("SELECT count(*) AS n FROM audit_log")).fetchone())["n"]
    assert after == before


async def test_app_role_is_not_the_owner(db: psycopg.AsyncConnection) -> None:
    row = await (await db.execute(
        "SELECT has_table_privilege('ioc_app', 'audit_log', 'INSERT') AS ins,"
        " has_table_privilege('ioc_app', 'audit_log', 'UPDATE') AS upd,"
        " has_table_privilege('ioc_app', 'audit_log', 'DELETE') AS del,"
        " has_table_privilege('ioc_app', 'events', 'INSERT') AS events_ins,"
        " pg_get_userbyid(c.relowner) AS owner FROM pg_class c WHERE c.relname = 'audit_log'"
    )).fetchone()
    assert row == {"ins": True, "upd": False, "del": False, "events_ins": True, "owner": row["owner"]}
    assert row["owner"] != "ioc_app"
