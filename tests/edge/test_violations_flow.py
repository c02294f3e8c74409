"""Violations through the whole edge: wrong-way hits on the real highway video become
signed evidence packages (overview, clip, manifest) that the real hub verifies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from edge.worker import EdgeWorker
from tests.edge.helpers import Recorder, site
from tests.ioc.conftest import Factory, Hub

# The carriageways of highway_720p.mp4 (tests/analytics/test_highway.py); both declared as
# running down the image, so vehicles on the right one (really going up) are wrong-way.
LEFT = [[0, 300], [460, 150], [635, 150], [620, 720], [0, 720]]
RIGHT = [[665, 150], [830, 150], [1280, 250], [1280, 720], [690, 720]]


@pytest.mark.slow
async def test_wrong_way_violations_arrive_signed_and_verified(hub: Hub, make: Factory, db: psycopg.AsyncConnection,
                                                               shared_data: Path, tmp_path: Path) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[0])
    cfg = site(tmp_path / "edge", hub.base_url, token=edge.token, edge_id=edge.id,
               detector={"type": "yolox", "model": str(shared_data / "yolox_nano.onnx")},
               violations={"plates": None, "evidence": {"clip_before_s": 2, "clip_after_s": 1}},
               cameras=[{
                   "id": f"{edge.id}-hw", "unit": tree.communes[0], "name": "Cao tốc", "place": "Km 12",
                   "url": str(shared_data / "highway_720p.mp4"), "detect_fps": 10,
                   "scene": {
                       "lanes": [{"name": "left", "polygon": LEFT, "direction": [0, 1]},
                                 {"name": "right", "polygon": RIGHT, "direction": [0, 1]}],
                       "rules": [{"type": "wrong_way", "lanes": ["left", "right"], "min_distance_px": 40,
                                  "min_frames": 5, "evidence": ["overview", "clip"]}]}}])
    rec = Recorder()
    worker = EdgeWorker(cfg, on_event=rec)
    await asyncio.to_thread(worker.start)
    try:
        await asyncio.to_thread(worker.wait_cameras, 40)
    finally:
        await asyncio.to_thread(worker.stop)  # finishes violations still waiting for their clip
    violations = rec.of(type="traffic.wrong_way")
    assert len(violations) >= 10  # most of the 27 vehicles going up on the right carriageway
    assert all(e.payload["lane"] == "right" for e in violations)
    assert all({r.kind for r in e.evidence} >= {"overview", "clip", "manifest"} for e in violations)

    # Deliver what is left with a fresh worker on the same outbox (also checks restart safety).
    worker2 = EdgeWorker(cfg)
    await asyncio.to_thread(worker2.start)
    try:
        deadline = time.monotonic() + 30
        while worker2.outbox.depth() and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert worker2.outbox.depth() == 0
    finally:
        await asyncio.to_thread(worker2.stop)
    assert worker.heartbeat.key_registered.is_set() or worker2.heartbeat.key_registered.is_set()
    ids = [str(e.id) for e in violations]
    rows = await (await db.execute("SELECT id::text AS id, complete FROM events WHERE id = ANY(%s::uuid[])",
                                   (ids,))).fetchall()
    assert len(rows) == len(ids) and all(r["complete"] for r in rows)
    verdicts = await (await db.execute("SELECT verified, problems FROM evidence_manifests WHERE event_id = ANY(%s::uuid[])",
                                       (ids,))).fetchall()
    assert len(verdicts) == len(ids)
    assert all(v["verified"] for v in verdicts), [v["problems"] for v in verdicts if not v["verified"]]
