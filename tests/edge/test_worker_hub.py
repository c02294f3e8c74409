"""A worker against the real hub: cameras declared, heartbeats shown as camera status,
events stored, and the edge's MJPEG preview reachable through the hub's proxy."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path


from edge.worker import EdgeWorker
from tests.edge.helpers import Recorder, site
from tests.ioc.conftest import Factory, Hub


async def _until(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


async def test_worker_declares_heartbeats_delivers_and_previews(hub: Hub, make: Factory, shared_data: Path,
                                                                tmp_path: Path) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[0])
    operator = await make.user("operator", tree.province)
    cfg = site(tmp_path / "edge", hub.base_url, token=edge.token, edge_id=edge.id, heartbeat_s=1, cameras=[
        {"id": f"{edge.id}-cam", "name": "Phố đi bộ", "unit": tree.communes[0], "lat": 10.77, "lon": 106.70,
         "url": str(shared_data / "street_crossing_320p.mp4"), "loop": True, "detector": {"type": "motion"},
         "scene": {"zones": [{"name": "crossing", "polygon": [[0, 150], [576, 150], [576, 320], [0, 320]]}],
                   "rules": [{"type": "zone_intrusion", "zone": "crossing", "classes": ["motion"],
                              "evidence": ["overview", "crop", "clip"]}]}},
        {"id": f"{edge.id}-off", "name": "Tạm tắt", "unit": tree.communes[0], "enabled": False,
         "url": str(shared_data / "street_crossing_320p.mp4"), "detector": {"type": "motion"}},
    ])
    camera_id = cfg.cameras[0].id
    rec = Recorder()
    worker = EdgeWorker(cfg, on_event=rec)
    await asyncio.to_thread(worker.start)
    try:
        async def camera_online() -> bool:
            r = await hub.client.get(f"/api/v1/cameras/{camera_id}", headers=operator.headers)
            return r.status_code == 200 and r.json()["status"] == "online"

        await _until("camera online at the hub", camera_online, 20)
        camera = (await hub.client.get(f"/api/v1/cameras/{camera_id}", headers=operator.headers)).json()
        assert camera["name"] == "Phố đi bộ" and camera["unit"] == tree.communes[0] and camera["enabled"] is True
        off = (await hub.client.get(f"/api/v1/cameras/{edge.id}-off", headers=operator.headers)).json()
        assert off["enabled"] is False  # declared as switched off: grey on the wall, not "signal lost"

        async def intrusion_stored() -> bool:
            r = await hub.client.get("/api/v1/events", params={"camera": camera_id, "types": "security."},
                                     headers=operator.headers)
            return r.status_code == 200 and len(r.json()["items"]) > 0

        await _until("an intrusion event at the hub", intrusion_stored, 30)
        page = (await hub.client.get("/api/v1/events", params={"camera": camera_id, "types": "security."},
                                     headers=operator.headers)).json()
        event = page["items"][-1]
        assert {e["kind"] for e in event["evidence"]} == {"overview", "crop", "clip"}
        for ref in event["evidence"]:
            r = await hub.client.get(f"/api/v1/evidence/{ref['sha256']}", headers=operator.headers)
            assert r.status_code == 200 and r.headers["content-type"].startswith(ref["mime"])

        # The preview, through the hub's proxy, is a live multipart JPEG stream.
        async with hub.client.stream("GET", f"/api/v1/cameras/{camera_id}/preview.mjpg",
                                     headers=operator.headers, timeout=15) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
            buf = b""
            async for chunk in r.aiter_bytes():
                buf += chunk
                if buf.count(b"\xff\xd9") >= 2:
                    break
        assert buf.startswith(b"--iocframe") and b"Content-Type: image/jpeg" in buf and b"\xff\xd8" in buf
    finally:
        await asyncio.to_thread(worker.stop)
    assert worker.delivery.stats.rejected == 0 and worker.heartbeat.sent >= 1
