"""The alarm workflow (issue 10): acknowledge, assign, resolve warning and critical
events through the API, each audited, scoped to the caller's units (404 outside them,
like a read), role-checked (viewers and officials cannot), and pushed live as
`system.alarm` to the walls in scope. Real hub, real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.ioc.conftest import EdgeLogin, Factory, Hub, Tree

# The workflow reads events (a hypertable under TimescaleDB): run on both servers.
pytestmark = pytest.mark.both_databases


async def _post(hub: Hub, edge: EdgeLogin, *events: dict[str, Any]) -> None:
    r = await hub.client.post("/api/v1/events", json={"events": list(events)}, headers=edge.headers)
    assert r.status_code == 200 and len(r.json()["accepted"]) == len(events), r.text


async def _audit(db: psycopg.AsyncConnection, target: str) -> list[tuple[str, str, dict[str, Any]]]:
    cur = await db.execute("SELECT actor, action, details FROM audit_log WHERE target = %s ORDER BY id", (target,))
    return [(r["actor"], r["action"], r["details"]) for r in await cur.fetchall()]


async def _site(make: Factory, severity: str = "critical") -> tuple[Tree, EdgeLogin, dict[str, Any]]:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    return tree, edge, make.event(edge, cam, severity=severity, type="security.intrusion", payload={"zone": "kho"})


async def test_acknowledge_assign_resolve_each_audited_and_shown_in_the_list(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection
) -> None:
    tree, edge, event = await _site(make)
    await _post(hub, edge, event)
    op = await make.user("operator", tree.province)
    patrol = await make.user("police", tree.communes[0])
    path = f"/api/v1/events/{event['id']}"

    got = (await hub.client.get(path, headers=op.headers)).json()
    assert got["alarm"]["state"] == "new"
    names = [u["username"] for u in (await hub.client.get(path + "/assignees", headers=op.headers)).json()]
    assert patrol.user.username in names and op.user.username in names

    assert (await hub.client.post(path + "/ack", headers=op.headers)).json()["changed"] is True
    r = await hub.client.post(path + "/assign", json={"assignee": patrol.user.username}, headers=op.headers)
    assert r.status_code == 200, r.text
    assert r.json()["alarm"]["state"] == "assigned" and r.json()["alarm"]["assignee"] == patrol.user.username
    # The assignee resolves it with a note.
    r = await hub.client.post(path + "/resolve", json={"note": "Đã kiểm tra, báo động giả"}, headers=patrol.headers)
    assert r.status_code == 200, r.text
    alarm = r.json()["alarm"]
    assert alarm["state"] == "resolved" and alarm["resolved_by"] == patrol.user.username
    assert alarm["note"] == "Đã kiểm tra, báo động giả" and alarm["assignee"] == patrol.user.username
    again = await hub.client.post(path + "/resolve", json={"note": "again"}, headers=op.headers)
    assert again.json()["changed"] is False and again.json()["alarm"]["note"] == "Đã kiểm tra, báo động giả"
    # Resolved: no more assigning.
    late = await hub.client.post(path + "/assign", json={"assignee": op.user.username}, headers=op.headers)
    assert late.status_code == 409

    listed = (await hub.client.get("/api/v1/events", params={"camera": event["camera"]}, headers=op.headers)).json()
    assert listed["items"][0]["alarm"]["state"] == "resolved"
    assert [(a, act) for a, act, _ in await _audit(db, f"event:{event['id']}")] == [
        (op.user.username, "event.ack"), (op.user.username, "event.assign"), (patrol.user.username, "event.resolve"),
    ]
    details = (await _audit(db, f"event:{event['id']}"))[1][2]
    assert details["assignee"] == patrol.user.username and details["severity"] == "critical"


async def test_resolve_without_ack_acknowledges_too(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree, edge, event = await _site(make, severity="warning")
    await _post(hub, edge, event)
    op = await make.user("operator", tree.communes[0])
    r = await hub.client.post(f"/api/v1/events/{event['id']}/resolve", json={"note": "ok"}, headers=op.headers)
    assert r.status_code == 200 and r.json()["alarm"]["state"] == "resolved"
    got = (await hub.client.get(f"/api/v1/events/{event['id']}", headers=op.headers)).json()
    assert got["ack_by"] == op.user.username
    assert [act for _, act, _ in await _audit(db, f"event:{event['id']}")] == ["event.ack", "event.resolve"]


@pytest.mark.parametrize("who", ["commune_admin", "stranger_operator", "other_province_admin"])
async def test_another_units_alarm_is_not_found(hub: Hub, make: Factory, db: psycopg.AsyncConnection, who: str) -> None:
    tree, edge, event = await _site(make)
    await _post(hub, edge, event)
    if who == "commune_admin":  # the admin of the neighbouring commune
        actor = await make.user("admin", tree.communes[1])
    elif who == "stranger_operator":  # an operator of the other district
        actor = await make.user("operator", tree.communes[2])
    else:
        actor = await make.user("admin", (await make.tree()).province)
    path = f"/api/v1/events/{event['id']}"
    for method, suffix, body in [("post", "/ack", None), ("post", "/assign", {"assignee": actor.user.username}),
                                 ("post", "/resolve", {"note": "x"}), ("get", "/assignees", None)]:
        r = await hub.client.request(method.upper(), path + suffix, json=body, headers=actor.headers)
        assert r.status_code == 404, (suffix, r.status_code, r.text)
    assert await _audit(db, f"event:{event['id']}") == []


@pytest.mark.parametrize("role", ["viewer", "official"])
async def test_viewers_cannot_act_on_alarms(hub: Hub, make: Factory, role: str) -> None:
    tree, edge, event = await _site(make)
    await _post(hub, edge, event)
    watcher = await make.user(role, tree.province)
    path = f"/api/v1/events/{event['id']}"
    for suffix, body in [("/ack", None), ("/assign", {"assignee": watcher.user.username}), ("/resolve", {"note": "x"})]:
        r = await hub.client.post(path + suffix, json=body, headers=watcher.headers)
        assert r.status_code == 403, (suffix, r.text)
    assert (await hub.client.get(path, headers=watcher.headers)).json()["alarm"]["state"] == "new"


async def test_assignee_must_be_in_your_units_and_able_to_see_it(hub: Hub, make: Factory) -> None:
    tree, edge, event = await _site(make)
    await _post(hub, edge, event)
    op = await make.user("operator", tree.communes[0])
    above = await make.user("operator", tree.province)      # outside the commune operator's units
    neighbour = await make.user("police", tree.communes[1])  # cannot see the event
    viewer = await make.user("viewer", tree.communes[0])     # cannot act on alarms
    for target in (above, neighbour, viewer):
        r = await hub.client.post(f"/api/v1/events/{event['id']}/assign", json={"assignee": target.user.username},
                                  headers=op.headers)
        assert r.status_code == 422, r.text
    r = await hub.client.post(f"/api/v1/events/{event['id']}/assign", json={"assignee": "nobody"}, headers=op.headers)
    assert r.status_code == 422


async def test_info_events_are_not_alarms(hub: Hub, make: Factory) -> None:
    tree, edge, event = await _site(make, severity="info")
    await _post(hub, edge, event)
    op = await make.user("operator", tree.province)
    r = await hub.client.post(f"/api/v1/events/{event['id']}/resolve", json={"note": "x"}, headers=op.headers)
    assert r.status_code == 422
    assert "alarm" not in (await hub.client.get(f"/api/v1/events/{event['id']}", headers=op.headers)).json()


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "x" * 2001}, {"note": "ok", "extra": 1}])
async def test_bad_resolve_bodies_change_nothing(hub: Hub, make: Factory, body: dict[str, Any]) -> None:
    tree, edge, event = await _site(make)
    await _post(hub, edge, event)
    op = await make.user("operator", tree.province)
    r = await hub.client.post(f"/api/v1/events/{event['id']}/resolve", json=body, headers=op.headers)
    assert r.status_code == 422
    assert (await hub.client.get(f"/api/v1/events/{event['id']}", headers=op.headers)).json()["alarm"]["state"] == "new"


async def test_changes_are_pushed_to_walls_in_scope_only(hub: Hub, make: Factory) -> None:
    tree, edge, event = await _site(make)
    await _post(hub, edge, event)
    op = await make.user("operator", tree.province)
    wall = await make.user("viewer", tree.districts[0])
    elsewhere = await make.user("viewer", tree.districts[1])
    url = lambda token: hub.ws_url("/ws/events?" + urlencode({"token": token}))  # noqa: E731
    async with connect(url(wall.token)) as wall_ws, connect(url(elsewhere.token)) as other_ws:
        await asyncio.sleep(0.1)
        r = await hub.client.post(f"/api/v1/events/{event['id']}/resolve", json={"note": "xong"}, headers=op.headers)
        assert r.status_code == 200
        got = []
        async with asyncio.timeout(5):
            while len(got) < 2:
                msg = json.loads(await wall_ws.recv())
                if msg["type"] in ("system.acknowledged", "system.alarm"):
                    got.append(msg)
        assert [m["type"] for m in got] == ["system.acknowledged", "system.alarm"]
        assert got[1]["id"] == event["id"] and got[1]["state"] == "resolved" and got[1]["note"] == "xong"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    if json.loads(await other_ws.recv())["type"] != "system.heartbeat":
                        break
