"""Issue 8 item 10: event time and size are bounded.

Before: an event at 9999-12-31 (which then headed every newest-first list) or at
0001-01-01, and a single 50 MB event, were all stored. Now a time more than a few minutes
ahead of the hub's clock or older than the events retention window, and a payload over
`MAX_EVENT_BYTES`, are per-event rejections with a reason (the rest of the batch goes
in; the edge parks the rejected event as a dead letter); a body over `MAX_BODY_BYTES`
is a 413 (the edge then sends its events one by one).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from ioc.services import events as events_service
from tests.ioc.conftest import Factory, Hub


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


NOW = datetime.now(timezone.utc)

# (name, ts, payload, words of the reason)
OUT_OF_BOUNDS = [
    ("year 9999", "9999-12-31T23:59:59Z", None, "ahead of the hub's clock"),
    ("one hour ahead", _iso(NOW + timedelta(hours=1)), None, "ahead of the hub's clock"),
    ("year 1", "0001-01-01T00:00:00Z", None, "older than"),
    ("two years old", _iso(NOW - timedelta(days=730)), None, "older than"),
    ("a payload over the event limit", None, {"blob": "x" * (events_service.MAX_EVENT_BYTES + 10)}, "bytes of JSON"),
    ("a multibyte payload over the limit", None,
     {"blob": "ư" * (events_service.MAX_EVENT_BYTES // 2 + 10)}, "bytes of JSON"),
]


@pytest.mark.parametrize(("name", "ts", "payload", "words"), OUT_OF_BOUNDS, ids=[x[0] for x in OUT_OF_BOUNDS])
async def test_an_out_of_bounds_event_is_rejected_alone(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, name: str, ts: str | None, payload: dict | None, words: str
) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    before = make.event(edge, cam, seq=1)
    bad = make.event(edge, cam, seq=2)
    if ts is not None:
        bad["ts"] = ts
    if payload is not None:
        bad["payload"] = payload
    after = make.event(edge, cam, seq=3)
    r = await hub.client.post("/api/v1/events", json={"events": [before, bad, after]}, headers=edge.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [before["id"], after["id"]]
    assert [(x["index"], x["id"]) for x in body["rejected"]] == [(1, bad["id"])]
    assert words in body["rejected"][0]["reason"], body["rejected"][0]
    rows = await (await db.execute("SELECT id::text AS id FROM events WHERE edge = %s ORDER BY seq", (edge.id,))).fetchall()
    assert [x["id"] for x in rows] == [before["id"], after["id"]]
    # Alone it is a 422 with the per-event reason: the edge parks it as a dead letter.
    r = await hub.client.post("/api/v1/events", json={"events": [bad]}, headers=edge.headers)
    assert r.status_code == 422 and r.json()["rejected"][0]["id"] == bad["id"], r.text


@pytest.mark.parametrize("offset", [timedelta(minutes=-1), timedelta(minutes=3), timedelta(days=-399)],
                         ids=["a minute ago", "edge clock 3 min ahead", "399 days old"])
async def test_times_inside_the_bounds_go_in(hub: Hub, make: Factory, offset: timedelta) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    event = make.event(edge, cam, ts=_iso(datetime.now(timezone.utc) + offset))
    r = await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)
    assert r.status_code == 200 and r.json()["accepted"] == [event["id"]], r.text


async def test_a_50_mb_event_is_413_and_nothing_is_stored(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    event = make.event(edge, cam, payload={"blob": "x" * (50 * 2**20)})
    body = json.dumps({"events": [event]}).encode()
    r = await hub.client.post("/api/v1/events", content=body, headers=edge.headers | {"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:300]
    assert "exceeds" in r.json()["detail"]

    # Without a Content-Length (chunked), the bound holds while the body streams in.
    async def chunks():
        for start in range(0, len(body), 2**20):
            yield body[start:start + 2**20]

    r = await hub.client.post("/api/v1/events", content=chunks(), headers=edge.headers | {"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:300]
    row = await (await db.execute("SELECT count(*) AS n FROM events WHERE edge = %s", (edge.id,))).fetchone()
    assert row["n"] == 0
