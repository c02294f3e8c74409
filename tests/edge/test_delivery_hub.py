"""Outbox → real hub: batches, evidence before events, rejections parked, nothing resent."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timezone
from pathlib import Path

import psycopg

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
