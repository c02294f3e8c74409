"""Hub outage of 60 s with an edge restart in the middle: every event arrives exactly once,
in order per camera.

Timeline (hub and edge are both real; the hub's port stays the same across its restart):

    t=0     hub up, edge A starts on two real videos; events flow to the hub
    t~4     hub stopped (60 s outage begins)
    t~10    edge A stopped mid-video, edge B started on the same site file and data
            directory: the videos play again from the start, B's events join A's backlog
    t~64    hub back; B declares its cameras and drains the outbox
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
import uvicorn

from edge.worker import EdgeWorker
from ioc.api.app import create_app
from ioc.settings import Settings
from tests.conftest import free_port
from tests.edge.helpers import Recorder, counting_scene, site
from tests.ioc.conftest import Factory

OUTAGE_S = 60.0


class RestartableHub:
    """A real hub (uvicorn + create_app) that can be stopped and started on the same port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.02)
        assert self._server.started, "hub did not start"

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 20)


async def _wait(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_hub_outage_with_edge_restart_delivers_each_event_once_in_order(
        hub_settings: Settings, make: Factory, db: psycopg.AsyncConnection, shared_data: Path, tmp_path: Path) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[0])
    unit = tree.communes[0]
    hub = RestartableHub(hub_settings)
    await hub.start()
    cfg = site(tmp_path / "edge", hub.url, token=edge.token, edge_id=edge.id,
               delivery={"backoff_initial_s": 0.2, "backoff_max_s": 3, "batch_size": 50},
               detector={"type": "yolox", "model": str(shared_data / "yolox_nano.onnx")},
               cameras=[
                   {"id": "cam-hw", "unit": unit, "url": str(shared_data / "highway_720p.mp4"),
                    "scene": {**counting_scene(1.0), "zones": [
                        {"name": "road", "polygon": [[0, 380], [1280, 380], [1280, 720], [0, 720]]}],
                        "rules": [*counting_scene(1.0)["rules"],
                                  {"type": "zone_intrusion", "zone": "road", "classes": ["car", "truck", "bus"],
                                   "evidence": ["overview"]}]}},
                   {"id": "cam-st", "unit": unit, "url": str(shared_data / "street_crossing_320p.mp4"),
                    "detector": {"type": "motion"}, "scene": {
                        "lines": [{"name": "l", "start": [0, 200], "end": [576, 200]}],
                        "rules": [{"type": "line_count", "line": "l", "interval_s": 1, "classes": ["motion"]}]}},
               ])
    rec = Recorder()
    worker_a = EdgeWorker(cfg, on_event=rec)
    worker_b: EdgeWorker | None = None
    try:
        await asyncio.to_thread(worker_a.start)
        await _wait("first events delivered", lambda: worker_a.delivery.stats.delivered >= 3, 20)
        delivered_before_outage = worker_a.delivery.stats.delivered

        await hub.stop()
        outage_started = time.monotonic()
        await asyncio.sleep(6)
        await asyncio.to_thread(worker_a.stop)  # the edge restarts during the outage
        ids_a = {str(e.id) for e in rec.events}
        worker_b = EdgeWorker(cfg, on_event=rec)
        await asyncio.to_thread(worker_b.start)
        await asyncio.to_thread(worker_b.wait_cameras, 40)  # both videos played to their end again
        assert {str(e.id) for e in rec.events} > ids_a
        backlog = worker_b.outbox.depth()
        assert backlog > 10
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))

        await hub.start()
        await _wait("outbox drained", lambda: worker_b.outbox.depth() == 0, 60)
    finally:
        if worker_b is not None:
            await asyncio.to_thread(worker_b.stop)
        else:
            await asyncio.to_thread(worker_a.stop)
        await hub.stop()

    created = [e for e in rec.events]
    rows = await (await db.execute("SELECT id::text AS id, camera, seq, complete FROM events WHERE edge = %s "
                                   "ORDER BY rx_seq",
                                   (edge.id,))).fetchall()
    hub_ids = [r["id"] for r in rows]
    assert len(hub_ids) == len(set(hub_ids))  # stored once each
    assert set(hub_ids) == {str(e.id) for e in created}  # nothing lost, nothing invented
    assert worker_b.delivery.stats.duplicates == 0  # nothing the hub had acknowledged was resent
    assert worker_b.delivery.stats.rejected == 0
    assert all(r["complete"] for r in rows)  # every evidence file arrived too
    per_camera: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        per_camera[r["camera"]].append(r["seq"])
    for camera, seqs in per_camera.items():
        assert seqs == sorted(seqs), f"{camera} arrived out of order"
    assert set(per_camera) == {"cam-hw", "cam-st"}
    types = {e.type for e in created}
    assert {"camera.online", "count.line", "security.intrusion"} <= types
    print(f"events: {len(created)} ({delivered_before_outage} before the outage, backlog {backlog}); "
          f"hub rows {len(rows)}")
