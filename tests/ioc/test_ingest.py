"""Ingest against the real PostgreSQL: accepted / duplicate / rejected, evidence arrival,
search, stats."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.ioc.conftest import Factory, Hub

# Ingest and review write the hypertable: run on plain PostgreSQL and on TimescaleDB.
pytestmark = pytest.mark.both_databases


def _cam() -> str:
    return f"cam-{secrets.token_hex(3)}"


async def test_batch_reports_accepted_duplicate_and_rejected(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam, other_cam = _cam(), _cam()
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    stranger = await make.edge(tree.communes[1], cameras=[(other_cam, tree.communes[1])])
    good = [make.event(edge, cam, seq=i) for i in range(3)]
    bad_severity = make.event(edge, cam, seq=9, severity="apocalyptic")
    not_my_camera = make.event(stranger, other_cam, seq=1) | {"edge": edge.id}
    repeated = dict(good[0])
    batch = good + [bad_severity, not_my_camera, repeated]

    r = await hub.client.post("/api/v1/events", json={"events": batch}, headers=edge.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [e["id"] for e in good]
    assert body["duplicates"] == [good[0]["id"]]
    rejected = {x["index"]: x for x in body["rejected"]}
    assert set(rejected) == {3, 4}
    assert "severity" in rejected[3]["reason"]
    assert "not declared by edge" in rejected[4]["reason"]

    again = await hub.client.post("/api/v1/events", json={"events": good[:2]}, headers=edge.headers)
    assert again.json() == {"accepted": [], "duplicates": [good[0]["id"], good[1]["id"]], "rejected": []}
    row = await (await db.execute("SELECT count(*) AS n FROM events WHERE edge = %s", (edge.id,))).fetchone()
    assert row["n"] == 3


async def test_same_id_with_other_timestamp_is_still_a_duplicate(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = _cam()
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    event = make.event(edge, cam)
    # An hour earlier: still inside the accepted time bounds (a year-2020 time is now
    # refused on its own, see test_bounds.py), so only the id decides.
    earlier = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")) - timedelta(hours=1)
    moved = event | {"ts": earlier.isoformat().replace("+00:00", "Z")}
    assert (await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)).json()["accepted"]
    r = await hub.client.post("/api/v1/events", json={"events": [moved]}, headers=edge.headers)
    assert r.json()["duplicates"] == [event["id"]]
    row = await (await db.execute("SELECT count(*) AS n FROM events WHERE id = %s", (event["id"],))).fetchone()
    assert row["n"] == 1


async def test_event_is_incomplete_until_its_evidence_arrives(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = _cam()
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    files = [secrets.token_bytes(2000), secrets.token_bytes(3000)]
    hashes = [hashlib.sha256(f).hexdigest() for f in files]
    event = make.event(edge, cam, evidence=[{"sha256": h, "kind": k, "mime": "image/jpeg"} for h, k in zip(hashes, ("overview", "plate"))])
    assert (await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)).status_code == 200

    async def complete() -> bool:
        row = await (await db.execute("SELECT complete FROM events WHERE id = %s", (event["id"],))).fetchone()
        return row["complete"]

    assert not await complete()
    r = await hub.client.put(f"/api/v1/evidence/{hashes[0]}", content=files[0], headers=edge.headers | {"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["completed_events"] == []
    assert not await complete()
    r = await hub.client.put(f"/api/v1/evidence/{hashes[1]}", content=files[1], headers=edge.headers | {"Content-Type": "image/jpeg"})
    assert r.json()["completed_events"] == [event["id"]]
    assert await complete()
    stored = hub.app.state.settings.data_dir / "evidence" / hashes[1][:2] / hashes[1][2:4] / hashes[1]
    assert stored.read_bytes() == files[1]
    # The same upload again is accepted and changes nothing.
    r = await hub.client.put(f"/api/v1/evidence/{hashes[1]}", content=files[1], headers=edge.headers | {"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["created"] is False


async def test_search_filters_and_cursor_pagination(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam_a, cam_b = _cam(), _cam()
    edge = await make.edge(tree.province, cameras=[(cam_a, tree.communes[0]), (cam_b, tree.communes[2])])
    base = datetime.now(timezone.utc) - timedelta(minutes=30)
    events = []
    for i in range(25):
        cam = cam_a if i % 2 == 0 else cam_b
        kind = "traffic.red_light" if i % 3 == 0 else "security.intrusion"
        ts = (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        payload = {"plate": "59-X1 123.45"} if i == 7 else {"track": i}
        events.append(make.event(edge, cam, seq=i, type=kind, ts=ts, payload=payload))
    assert len((await hub.client.post("/api/v1/events", json={"events": events}, headers=edge.headers)).json()["accepted"]) == 25
    op = await make.user("operator", tree.province)

    seen, cursor = [], None
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = (await hub.client.get("/api/v1/events", params=params, headers=op.headers)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in reversed(events)]  # newest first, no gap, no repeat

    cases = [
        ({"types": "traffic."}, [e for e in events if e["type"].startswith("traffic.")]),
        ({"camera": cam_a}, [e for e in events if e["camera"] == cam_a]),
        ({"unit": tree.districts[1]}, [e for e in events if e["camera"] == cam_b]),
        ({"q": "59-X1"}, [events[7]]),
        ({"plate": "x1 123"}, [events[7]]),  # indexed plate search, case-insensitive
        ({"types": "traffic.,security.", "camera": cam_b}, [e for e in events if e["camera"] == cam_b]),
    ]
    for params, expected in cases:
        page = (await hub.client.get("/api/v1/events", params=params | {"limit": 100}, headers=op.headers)).json()
        assert [e["id"] for e in page["items"]] == [e["id"] for e in reversed(expected)], params

    stats = (await hub.client.get("/api/v1/stats", params={"window": "1h"}, headers=op.headers)).json()
    assert stats["total"] == 25
    assert stats["by_type"] == {"security.intrusion": 16, "traffic.red_light": 9}
    assert stats["by_camera"] == {cam_a: 13, cam_b: 12}


async def test_payload_text_survives_copy_escaping(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam = _cam()
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    tricky = {"note": "a\\b\tc\nd\re \\N \\\\ é 😀 \u2028", "nested": {"k\\ey": ["\\t", None, 1.5, True]}}
    evidence = [{"sha256": "a" * 64, "kind": "over\\view\t1", "mime": "image/jpeg"}]
    event = make.event(edge, cam, payload=tricky, evidence=evidence)
    assert (await hub.client.post("/api/v1/events", json={"events": [event]}, headers=edge.headers)).status_code == 200
    op = await make.user("operator", tree.province)
    got = (await hub.client.get(f"/api/v1/events/{event['id']}", headers=op.headers)).json()
    assert got["payload"] == tricky and got["evidence"] == evidence and got["complete"] is False
