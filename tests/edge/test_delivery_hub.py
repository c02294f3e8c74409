"""Outbox → real hub: batches, evidence before events, rejections parked, nothing resent."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from edge.delivery import Delivery
from edge.hub import HubClient
from edge.outbox import EvidenceFile, Outbox
from tests.ioc.conftest import Factory, Hub


async def test_outbox_delivers_events_and_evidence_to_the_hub(hub: Hub, make: Factory, db: psycopg.AsyncConnection,
                                                              tmp_path: Path, shared_data: Path) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[0], cameras=[("cam-a", tree.communes[0]), ("cam-b", tree.communes[0])])
    outbox = Outbox(tmp_path / "outbox.sqlite", edge.id)
    jpeg = (shared_data / "dog_bicycle_truck.jpg").read_bytes()
    now = datetime.now(timezone.utc)
    sent = []
    for i in range(30):
        files = [EvidenceFile(jpeg, "image/jpeg", "overview")] if i % 10 == 0 else []
        sent.append(outbox.add_event(camera="cam-a" if i % 2 else "cam-b", unit=tree.communes[0],
                                     type="security.intrusion", ts=now, payload={"i": i}, files=files))
    # A camera this edge does not own: the hub rejects it, the rest still go in.
    foreign = outbox.add_event(camera="cam-elsewhere", unit=tree.communes[3], type="security.intrusion", ts=now)
    client = HubClient(hub.base_url, edge.token)
    delivery = Delivery(outbox, client, batch_size=8)
    try:
        total = 0
        while True:
            done = await asyncio.to_thread(delivery.deliver_once)
            if done == 0 and outbox.depth() == 0:
                break
            total += done
    finally:
        client.close()
    assert total == 30 and outbox.depth() == 0
    assert [r[0] for r in outbox.rejected()] == [str(foreign.id)]
    assert delivery.stats.delivered == 30 and delivery.stats.duplicates == 0
    assert delivery.stats.evidence_uploaded == 1  # one file named by three events, uploaded once
    rows = await (await db.execute("SELECT id::text AS id, seq, complete FROM events WHERE edge = %s ORDER BY rx_seq",
                                   (edge.id,))).fetchall()
    assert [r["id"] for r in rows] == [str(e.id) for e in sent]  # batches kept sequence order
    assert all(r["complete"] for r in rows)  # evidence arrived before the events that name it
    sha = hashlib.sha256(jpeg).hexdigest()
    stored = await (await db.execute("SELECT sha256 FROM evidence_files WHERE sha256 = %s", (sha,))).fetchone()
    assert stored is not None
    outbox.close()


def test_live_events_go_before_the_backlog(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-x")
    now = datetime.now(timezone.utc)
    old = [outbox.add_event(camera="c1", unit="u", type="count.line", ts=now) for _ in range(3)]
    outbox._db.execute("UPDATE events SET created = created - 3600")  # as if stored during an outage
    fresh = [outbox.add_event(camera="c2", unit="u", type="security.intrusion", ts=now) for _ in range(2)]
    batch = outbox.next_batch(limit=4, live_window_s=10)
    assert batch.live == 2
    assert [e["id"] for e in batch.events] == [str(e.id) for e in fresh + old[:2]]
    outbox.close()


def _smuggle(outbox: Outbox, after: object, body_text: str) -> str:
    """Queue a raw wire body past `add_event`'s checks, as an older edge version did."""
    import json
    import uuid as uuid_mod

    seq = outbox.last_seq() + 1
    event_id = str(uuid_mod.uuid4())
    body = json.loads(json.dumps(after.to_json_dict()))  # type: ignore[attr-defined]
    body |= {"id": event_id, "seq": seq}
    text = json.dumps(body, separators=(",", ":")).replace('"payload":{}', f'"payload":{body_text}')
    outbox._db.execute("INSERT INTO events (seq, id, camera, created, body) VALUES (?, ?, ?, strftime('%s','now'), ?)",
                       (seq, event_id, body["camera"], text))
    outbox._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(seq),))
    return event_id


async def test_a_poison_event_is_parked_and_everything_behind_it_delivered(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, tmp_path: Path
) -> None:
    """Issue 8 defect 4: a poison event in the outbox used to stop the edge for good."""
    tree = await make.tree()
    cam = f"cam-{uuid.uuid4().hex[:6]}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    outbox = Outbox(tmp_path / "outbox.sqlite", edge.id)
    now = datetime.now(timezone.utc)
    first = outbox.add_event(camera=cam, unit=tree.communes[0], type="security.intrusion", ts=now)
    poison = [_smuggle(outbox, first, text) for text in ('{"plate":"59\\u0000X1"}', '{"v":NaN}', '{"s":"\\ud800"}')]
    behind = [outbox.add_event(camera=cam, unit=tree.communes[0], type="security.intrusion", ts=now,
                               payload={"i": i}) for i in range(5)]
    client = HubClient(hub.base_url, edge.token)
    delivery = Delivery(outbox, client, batch_size=4)
    try:
        for _ in range(10):
            if await asyncio.to_thread(delivery.deliver_once) == 0 and outbox.depth() == 0:
                break
    finally:
        client.close()
    assert outbox.depth() == 0
    assert sorted(i for i, _ in outbox.rejected()) == sorted(poison)
    assert outbox.rejected_count() == 3 and delivery.stats.rejected == 3
    rows = await (await db.execute("SELECT id::text AS id FROM events WHERE edge = %s ORDER BY seq", (edge.id,))).fetchall()
    assert [r["id"] for r in rows] == [str(e.id) for e in [first, *behind]]
    # The count reaches the hub in the heartbeat and its /metrics.
    beat = {"ts": now.isoformat(), "detector": {"kind": "motion", "model": None}, "preview_url": None,
            "outbox_depth": outbox.depth(), "outbox_rejected": outbox.rejected_count(), "cameras": []}
    assert (await hub.client.post("/api/v1/edges/self/heartbeat", json=beat, headers=edge.headers)).status_code == 200
    assert f'ioc_edge_outbox_rejected{{edge="{edge.id}"}} 3.0' in (await hub.client.get("/metrics")).text
    outbox.close()


class _TripsOn(HubClient):
    """The real hub, except that it answers 500 for any batch holding one given event
    (a hub bug that event triggers), or for everything when `broken`."""

    def __init__(self, base_url: str, token: str, poison: str) -> None:
        super().__init__(base_url, token)
        self.poison = poison
        self.broken = False

    def post_events(self, events):  # type: ignore[no-untyped-def]
        from edge.exceptions import HubUnavailable

        if self.broken or any(e["id"] == self.poison for e in events):
            raise HubUnavailable("POST /api/v1/events: HTTP 500: Internal Server Error", 500)
        return super().post_events(events)


async def test_an_event_the_hub_fails_on_alone_is_parked_but_a_broken_hub_parks_nothing(
    hub: Hub, make: Factory, tmp_path: Path
) -> None:
    from edge.exceptions import HubUnavailable

    tree = await make.tree()
    cam = f"cam-{uuid.uuid4().hex[:6]}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    outbox = Outbox(tmp_path / "outbox.sqlite", edge.id)
    now = datetime.now(timezone.utc)
    events = [outbox.add_event(camera=cam, unit=tree.communes[0], type="count.line", ts=now, payload={"i": i})
              for i in range(6)]
    client = _TripsOn(hub.base_url, edge.token, poison=str(events[2].id))
    delivery = Delivery(outbox, client, batch_size=10)
    try:
        client.broken = True  # the whole hub fails: an outage, nothing is parked
        with pytest.raises(HubUnavailable):
            await asyncio.to_thread(delivery.deliver_once)
        assert outbox.depth() == 6 and outbox.rejected_count() == 0
        client.broken = False
        assert await asyncio.to_thread(delivery.deliver_once) == 5
    finally:
        client.close()
    assert outbox.depth() == 0 and [i for i, _ in outbox.rejected()] == [str(events[2].id)]
    assert "failed on this event alone" in outbox.rejected()[0][1]
    outbox.close()
