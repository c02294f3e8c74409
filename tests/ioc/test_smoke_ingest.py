"""Ingest: accepted, duplicate and rejected events in one batch, against the real database."""

from __future__ import annotations

import secrets

from tests.ioc.conftest import Factory, Hub


async def test_batch_accepted_duplicate_rejected(hub: Hub, make: Factory, db) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    good = [make.event(edge, cam, seq=i) for i in range(3)]
    bad = make.event(edge, cam, seq=9, severity="apocalyptic")
    first = await hub.client.post("/api/v1/events", json={"events": good + [bad]}, headers=edge.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["accepted"] == [e["id"] for e in good]
    assert body["duplicates"] == []
    assert [(r["index"], r["id"]) for r in body["rejected"]] == [(3, bad["id"])]
    assert "severity" in body["rejected"][0]["reason"]

    again = await hub.client.post("/api/v1/events", json={"events": good[:2]}, headers=edge.headers)
    assert again.json() == {"accepted": [], "duplicates": [good[0]["id"], good[1]["id"]], "rejected": []}
    rows = await (await db.execute("SELECT count(*) AS n FROM events WHERE edge = %s", (edge.id,))).fetchone()
    assert rows["n"] == 3
