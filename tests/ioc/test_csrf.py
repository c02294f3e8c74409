"""CSRF: a cross-site page cannot make a logged-in browser change anything (issue 8,
defect 9). On main a form POST from another origin with the session cookie acked an
event and started or ended a meeting. Real PostgreSQL, real hub."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timezone
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.ioc.conftest import Factory, Hub

EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}
# Browsers that send Origin but not Sec-Fetch-Site, and a sibling subdomain.
CROSS_HEADERS = [
    EVIL,
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "same-site"},
]


async def _log_in(client: httpx.AsyncClient, hub: Hub, login: Any) -> None:
    """Make `client` hold only the session cookie, as a browser would."""
    r = await client.post("/api/v1/auth/login", json={"username": login.user.username, "password": login.password},
                          headers={"Origin": hub.base_url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and "ioc_session" in client.cookies


async def _setup(hub: Hub, make: Factory) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    event = make.event(edge, cam)
    assert (await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)).status_code == 200
    chair = await make.user("admin", tree.province)
    body = {"title": "Giao ban", "chair_unit": tree.province, "invited_root": tree.province,
            "scheduled_at": datetime.now(timezone.utc).isoformat(), "relays": {tree.province: "ws://127.0.0.1:18700/ws"}}
    r = await hub.client.post("/api/v1/meetings", json=body, headers=chair.headers)
    assert r.status_code == 201, r.text
    return chair, event, r.json()


@pytest.mark.parametrize("headers", CROSS_HEADERS, ids=["form", "origin-only", "origin-null", "same-site"])
async def test_cross_site_posts_with_the_cookie_are_refused(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, headers: dict[str, str]
) -> None:
    chair, event, meeting = await _setup(hub, make)
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=15) as browser:
        await _log_in(browser, hub, chair)
        for path in (f"/api/v1/events/{event['id']}/ack", f"/api/v1/meetings/{meeting['id']}/start",
                     f"/api/v1/meetings/{meeting['id']}/end", "/api/v1/auth/logout"):
            r = await browser.post(path, content=b"x=1", headers=headers)
            assert r.status_code == 403, (path, r.status_code, r.text)
            assert "cookie sessions act only from this site" in r.json()["detail"]
        r = await browser.put(f"/api/v1/users/{chair.user.id}/role", json={"role": "admin", "unit": chair.user.unit},
                              headers=headers)
        assert r.status_code == 403
        # Nothing changed, and the session is still good.
        assert (await browser.get("/api/v1/auth/me")).status_code == 200
    row = await (await db.execute("SELECT ack_by FROM events WHERE id = %s", (event["id"],))).fetchone()
    assert row["ack_by"] is None
    state = await (await db.execute("SELECT state FROM meetings WHERE id = %s", (meeting["id"],))).fetchone()
    assert state["state"] == "scheduled"
    for _ in range(100):  # written just after each response
        cur = await db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'access.denied'"
                               " AND actor = %s AND details->>'reason' = 'csrf'", (chair.user.username,))
        if (n := (await cur.fetchone())["n"]) >= 5:
            break
        await asyncio.sleep(0.05)
    assert n == 5


async def test_same_origin_pages_and_bearer_clients_still_act(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    chair, event, meeting = await _setup(hub, make)
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=15) as browser:
        await _log_in(browser, hub, chair)
        same = {"Origin": hub.base_url, "Sec-Fetch-Site": "same-origin"}
        assert (await browser.post(f"/api/v1/events/{event['id']}/ack", headers=same)).status_code == 200
        # A fetch() from the page in a browser that sends Origin only.
        assert (await browser.post(f"/api/v1/meetings/{meeting['id']}/start", headers={"Origin": hub.base_url})).status_code == 200
        # Not a browser (no Origin, no Sec-Fetch-Site): curl with a cookie.
        assert (await browser.post(f"/api/v1/meetings/{meeting['id']}/end")).status_code == 200
    # A bearer token cannot be attached by a foreign page: any Origin is fine.
    r = await hub.client.post(f"/api/v1/events/{event['id']}/ack", headers=chair.headers | EVIL)
    assert r.status_code == 200, r.text


async def test_cross_site_websocket_with_the_cookie_is_refused(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province)
    cookie = {"Cookie": f"ioc_session={op.token}"}
    with pytest.raises(InvalidStatus):
        async with connect(hub.ws_url("/ws/events"), additional_headers=cookie | {"Origin": "https://evil.example"}):
            pass
    async with connect(hub.ws_url("/ws/events"), additional_headers=cookie | {"Origin": hub.base_url}) as ws:
        assert ws.protocol.state.name == "OPEN"
