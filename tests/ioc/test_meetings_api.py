"""Meetings on a real hub and database: creation rules, scoped join tokens, listing,
state, relay attendance reports and the login-protected page."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from contract.tokens import verify_join_token
from ioc.services.meetings import issue_relay_hub_token
from tests.ioc.conftest import Factory, Hub, Tree

RELAY_P = "ws://127.0.0.1:18700/ws"
RELAY_D0 = "ws://127.0.0.1:18701/ws"


async def _meeting(hub: Hub, chair: Any, tree: Tree, *, root: str | None = None, chair_unit: str | None = None,
                   relays: dict[str, str] | None = None, title: str = "Giao ban trực tuyến") -> dict[str, Any]:
    body = {
        "title": title,
        "chair_unit": chair_unit or chair.user.unit,
        "invited_root": root or tree.province,
        "scheduled_at": datetime.now(timezone.utc).isoformat(),
        "relays": relays if relays is not None else {tree.province: RELAY_P, tree.districts[0]: RELAY_D0},
    }
    r = await hub.client.post("/api/v1/meetings", json=body, headers=chair.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_get_and_list_running(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree)
    assert meeting["state"] == "scheduled"
    assert meeting["relays"] == {tree.province: RELAY_P, tree.districts[0]: RELAY_D0}

    got = await hub.client.get(f"/api/v1/meetings/{meeting['id']}", headers=chair.headers)
    assert got.status_code == 200
    assert got.json()["you"] == {"invited": True, "role": "chair", "pub": True, "may_manage": True, "may_share": True}
    assert got.json()["units"][tree.communes[0]] == "Xã 0.0"

    running = await hub.client.get("/api/v1/meetings", params={"state": "running"}, headers=chair.headers)
    assert meeting["id"] not in [m["id"] for m in running.json()["items"]]
    # The chair's first join starts the meeting: the wall shows it.
    r = await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token", json={"endpoint": "tab1"},
                              headers=chair.headers)
    assert r.status_code == 200, r.text
    running = await hub.client.get("/api/v1/meetings", params={"state": "running"}, headers=chair.headers)
    item = next(m for m in running.json()["items"] if m["id"] == meeting["id"])
    assert item["state"] == "running" and item["unit"] == tree.province and item["url"] == f"/meet/{meeting['id']}"


@pytest.mark.parametrize(
    ("who", "where", "expect_status", "expect_role", "expect_pub", "expect_relay"),
    [
        ("official", "province", 200, "chair", True, RELAY_P),
        ("admin", "province", 200, "chair", True, RELAY_P),
        ("official", "district0", 200, "participant", True, RELAY_D0),
        ("official", "commune0", 200, "participant", True, RELAY_D0),  # nearest relay above it
        ("official", "commune2", 200, "participant", True, RELAY_P),  # district 1 has no relay
        ("viewer", "commune0", 200, "viewer", False, RELAY_D0),
        ("operator", "district1", 200, "viewer", False, RELAY_P),
        ("police", "province", 200, "viewer", False, RELAY_P),
    ],
)
async def test_join_token_roles(
    hub: Hub, make: Factory, who: str, where: str, expect_status: int, expect_role: str, expect_pub: bool,
    expect_relay: str,
) -> None:
    tree = await make.tree()
    unit = {"province": tree.province, "district0": tree.districts[0], "district1": tree.districts[1],
            "commune0": tree.communes[0], "commune2": tree.communes[2]}[where]
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree)
    caller = await make.user(who, unit)
    r = await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token", json={"endpoint": "e1"},
                              headers=caller.headers)
    assert r.status_code == expect_status, r.text
    grant = r.json()
    assert (grant["role"], grant["pub"], grant["relay_url"]) == (expect_role, expect_pub, expect_relay)
    claims = verify_join_token(grant["token"], room=meeting["id"], secret=hub.app.state.settings.relay_secret.get_secret_value())
    assert (claims.role, claims.pub, claims.unit, claims.sub) == (expect_role, expect_pub, unit, f"u{caller.user.id}-e1")
    assert claims.can_publish is expect_pub
    assert claims.exp - claims.iat <= 600
    # The token names the relay the hub chose; any other relay refuses it (issue 8, item 16).
    assert claims.relay == grant["relay_unit"]


@pytest.mark.parametrize(
    ("who", "where", "status"),
    [
        ("official", "district1", 404),  # a sibling district: neither invited nor above it, cannot see it
        ("official", "commune2", 404),  # a commune of that sibling district
        ("official", "province", 403),  # above the invited subtree: sees the meeting, may not join
        ("viewer", "province", 403),
    ],
)
async def test_join_token_refused_outside_invitation(hub: Hub, make: Factory, who: str, where: str, status: int) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.districts[0])
    meeting = await _meeting(hub, chair, tree, root=tree.districts[0], relays={tree.districts[0]: RELAY_D0})
    unit = {"province": tree.province, "district1": tree.districts[1], "commune2": tree.communes[2]}[where]
    caller = await make.user(who, unit)
    r = await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token", headers=caller.headers)
    assert r.status_code == status, r.text
    assert "token" not in r.json()


async def test_join_token_requires_login(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree)
    hub.client.cookies.clear()  # make.user logged in through this client
    r = await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token")
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"chair_unit": "nope"}, 422, "unknown unit"),
        ({"relays": {}}, 422, "invited root"),
        ({"relays": {"ROOT": "http://x"}}, 422, "ws://"),
        ({"title": "   "}, 422, "blank"),
        ({"title": "x" * 201}, 422, "title"),
        ({"duration_min": 0}, 422, "duration_min"),
        ({"scheduled_at": "2026-11-24T08:00:00"}, 422, "scheduled_at"),
        ({"unexpected": 1}, 422, "unexpected"),
        ({"chair_unit": "OTHER_DISTRICT"}, 422, "not inside the invited subtree"),
    ],
)
async def test_create_rejects_bad_input(hub: Hub, make: Factory, db, change: dict[str, Any], status: int, needle: str) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.districts[0])
    body: dict[str, Any] = {
        "title": "Họp", "chair_unit": tree.districts[0], "invited_root": tree.districts[0],
        "relays": {tree.districts[0]: RELAY_D0},
    }
    body.update(change)
    if body["chair_unit"] == "OTHER_DISTRICT":
        body["chair_unit"] = tree.districts[1]
    if "ROOT" in body["relays"]:
        body["relays"] = {tree.districts[0]: body["relays"]["ROOT"]}
    before = (await (await db.execute("SELECT count(*) AS n FROM meetings")).fetchone())["n"]
    r = await hub.client.post("/api/v1/meetings", json=body, headers=chair.headers)
    assert r.status_code == status, r.text
    assert needle in r.text
    after = (await (await db.execute("SELECT count(*) AS n FROM meetings")).fetchone())["n"]
    assert after == before


@pytest.mark.parametrize(("role", "where", "status"), [("viewer", "province", 403), ("operator", "province", 403),
                                                       ("official", "commune0", 403)])
async def test_create_needs_role_and_scope(hub: Hub, make: Factory, role: str, where: str, status: int) -> None:
    tree = await make.tree()
    caller = await make.user(role, tree.province if where == "province" else tree.communes[0])
    body = {"title": "Họp", "chair_unit": tree.province, "invited_root": tree.province,
            "relays": {tree.province: RELAY_P}}
    r = await hub.client.post("/api/v1/meetings", json=body, headers=caller.headers)
    assert r.status_code == status, r.text


async def test_listing_is_scoped(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.districts[0])
    meeting = await _meeting(hub, chair, tree, root=tree.districts[0], relays={tree.districts[0]: RELAY_D0})
    seen = {}
    for name, unit in {"province": tree.province, "own_commune": tree.communes[1], "other_commune": tree.communes[3]}.items():
        user = await make.user("official", unit)
        r = await hub.client.get("/api/v1/meetings", headers=user.headers)
        found = [m for m in r.json()["items"] if m["id"] == meeting["id"]]
        seen[name] = found[0]["unit_name"] if found else None
    # The chair unit is named for users above it and below it alike.
    assert seen == {"province": "Huyện 0", "own_commune": "Huyện 0", "other_commune": None}


async def test_end_is_for_the_chair_and_final(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree)
    other = await make.user("official", tree.districts[0])
    assert (await hub.client.post(f"/api/v1/meetings/{meeting['id']}/end", headers=other.headers)).status_code == 403
    r = await hub.client.post(f"/api/v1/meetings/{meeting['id']}/end", headers=chair.headers)
    assert r.status_code == 200 and r.json()["state"] == "ended"
    r = await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token", headers=other.headers)
    assert r.status_code == 409
    assert (await hub.client.post(f"/api/v1/meetings/{meeting['id']}/start", headers=chair.headers)).status_code == 409


async def test_attendance_from_relays_only(hub: Hub, make: Factory, db) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree)
    secret = hub.app.state.settings.relay_secret.get_secret_value()
    relay = {"Authorization": "Bearer " + issue_relay_hub_token(tree.districts[0], secret=secret)}
    url = f"/api/v1/meetings/{meeting['id']}/attendance"
    join = {"participant": "u9-tab", "name": "Cán bộ A", "unit": tree.communes[0], "role": "participant",
            "event": "join", "at": "2026-11-24T08:00:00Z", "relay": tree.districts[0]}

    # No token, a user's login token, a participant's join token, a token of another secret: all refused.
    grant = (await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token", headers=chair.headers)).json()
    hub.client.cookies.clear()
    for headers in ({}, chair.headers, {"Authorization": "Bearer " + grant["token"]},
                    {"Authorization": "Bearer " + issue_relay_hub_token(tree.districts[0], secret="x" * 40)}):
        r = await hub.client.post(url, json=join, headers=headers)
        assert r.status_code == 401, (headers, r.text)
    # A relay may not speak for another relay.
    r = await hub.client.post(url, json={**join, "relay": tree.province}, headers=relay)
    assert r.status_code == 422
    rows = await (await db.execute("SELECT count(*) AS n FROM meeting_attendance WHERE meeting_id = %s", (meeting["id"],))).fetchone()
    assert rows["n"] == 0

    assert (await hub.client.post(url, json=join, headers=relay)).status_code == 204
    assert (await hub.client.post(url, json=join, headers=relay)).status_code == 204  # repeated: stored once
    listed = await hub.client.get("/api/v1/meetings", params={"state": "running"}, headers=chair.headers)
    leave = {**join, "event": "leave", "at": "2026-11-24T08:30:00Z"}
    assert (await hub.client.post(url, json=leave, headers=relay)).status_code == 204
    r = await hub.client.get(url, headers=chair.headers)
    assert r.json()["items"] == [{
        "endpoint": "u9-tab", "name": "Cán bộ A", "unit": tree.communes[0], "role": "participant",
        "relay_unit": tree.districts[0], "joined_at": "2026-11-24T08:00:00Z", "left_at": "2026-11-24T08:30:00Z",
    }]
    audit = await (await db.execute(
        "SELECT actor, details FROM audit_log WHERE action = 'meeting.join' AND target = %s", (meeting["id"],)
    )).fetchall()
    assert [(a["actor"], a["details"]["relay_unit"]) for a in audit] == [("u9-tab", tree.districts[0])]
    tokens = await (await db.execute(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'meeting.join_token' AND target = %s", (meeting["id"],)
    )).fetchone()
    assert tokens["n"] == 1
    assert listed.status_code == 200


async def test_relay_reports_end_with_a_minted_relay_token(hub: Hub, make: Factory) -> None:
    """A relay without a hub token signs a short `relay` join token for the meeting; its
    `end` report (the chair ended the meeting on the relay) ends it at the hub too."""
    from contract.tokens import issue_join_token

    tree = await make.tree()
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree)
    secret = hub.app.state.settings.relay_secret.get_secret_value()
    url = f"/api/v1/meetings/{meeting['id']}/attendance"

    def minted(room: str) -> dict[str, str]:
        token = issue_join_token(room=room, sub=f"relay-{tree.province}", name="Relay", unit=tree.province,
                                 role="relay", pub=False, ttl_s=60, secret=secret)
        return {"Authorization": "Bearer " + token}

    join = {"participant": "u1-a", "name": "A", "unit": tree.province, "role": "chair", "event": "join",
            "relay": tree.province}
    assert (await hub.client.post(url, json=join, headers=minted(meeting["id"]))).status_code == 204
    # A relay token for another meeting does not speak for this one.
    assert (await hub.client.post(url, json=join, headers=minted("another-room"))).status_code == 401
    end = {"participant": "u1-a", "event": "end", "relay": tree.province}
    assert (await hub.client.post(url, json=end, headers=minted(meeting["id"]))).status_code == 204
    got = (await hub.client.get(f"/api/v1/meetings/{meeting['id']}", headers=chair.headers)).json()
    assert got["state"] == "ended"
    stays = (await hub.client.get(url, headers=chair.headers)).json()["items"]
    assert [s["left_at"] is not None for s in stays] == [True]
    # The child relays report the same end again: accepted, nothing changes.
    assert (await hub.client.post(url, json=end, headers=minted(meeting["id"]))).status_code == 204


async def test_page_requires_login(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    chair = await make.user("official", tree.province)
    meeting = await _meeting(hub, chair, tree, title="Họp <b>khẩn</b>")
    hub.client.cookies.clear()  # make.user logged in through this client
    r = await hub.client.get(f"/meet/{meeting['id']}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=%2Fmeet%2F")

    r = await hub.client.get(f"/meet/{meeting['id']}", headers=chair.headers)
    assert r.status_code == 200
    assert "Họp &lt;b&gt;khẩn&lt;/b&gt;" in r.text and "<b>khẩn" not in r.text
    assert "/static/js/meet.js" in r.text
    # The page may open websockets to the meeting's relays and nowhere else.
    csp = r.headers["content-security-policy"]
    assert "connect-src 'self' ws://127.0.0.1:18700 ws://127.0.0.1:18701;" in csp

    outsider = await make.user("official", (await make.tree()).province)
    assert (await hub.client.get(f"/meet/{meeting['id']}", headers=outsider.headers)).status_code == 404


async def test_page_tells_an_uninvited_official(hub: Hub, make: Factory) -> None:
    """A province official may look at a district's meeting but is not invited: the page says so."""
    tree = await make.tree()
    chair = await make.user("official", tree.districts[0])
    meeting = await _meeting(hub, chair, tree, root=tree.districts[0], relays={tree.districts[0]: RELAY_D0})
    above = await make.user("official", tree.province)
    r = await hub.client.get(f"/meet/{meeting['id']}", headers=above.headers)
    assert r.status_code == 200
    page = json.loads(re.search(r'<script type="application/json" id="ioc-page">(.*?)</script>', r.text, re.S)[1])
    assert page["you"] == {"invited": False, "role": None, "pub": False, "may_manage": False, "may_share": False}
    assert page["meeting"]["id"] == meeting["id"] and page["units"][tree.communes[0]] == "Xã 0.0"
    assert tree.communes[2] not in page["units"]  # only the invited subtree is named


async def test_viewer_token_cannot_publish_at_the_relay(hub: Hub, make: Factory) -> None:
    """The hub's viewer token, used by a client that tries to send anyway: the relay refuses the media."""
    from conferencing.client import RelayClient
    from conferencing.config import RelayConfig
    from conferencing.pattern import PatternTrack
    from conferencing.server import Relay
    from tests.conftest import free_port

    secret = hub.app.state.settings.relay_secret.get_secret_value()
    tree = await make.tree()
    relay = Relay(RelayConfig(unit=tree.province, port=free_port()), secret=secret)
    await relay.start()
    try:
        chair = await make.user("official", tree.province)
        meeting = await _meeting(hub, chair, tree, relays={tree.province: relay.url})
        viewer = await make.user("viewer", tree.communes[0])
        grant = (await hub.client.post(f"/api/v1/meetings/{meeting['id']}/join-token", json={"endpoint": "v"},
                                       headers=viewer.headers)).json()
        assert (grant["role"], grant["pub"]) == ("viewer", False)
        client = RelayClient(grant["relay_url"], grant["token"], slots=["chair"], receive_audio=False,
                             publish=lambda: [(None, PatternTrack(colour=(200, 30, 30), fps=10))], reconnect=False)
        await client.start()
        try:
            await client.wait_connected(15)
            sending = [t for t in client.pc.getTransceivers() if t.sender.track is not None]
            # The relay answered the send m-line "inactive": nothing of this client is forwarded.
            assert [t.currentDirection for t in sending] == ["inactive"]
            room = relay.rooms[meeting["id"]]
            me = next(p for p in room.state()["participants"] if p["id"] == grant["sub"])
            assert me["pub"] is False
        finally:
            await client.stop()
    finally:
        await relay.stop()
