"""The demo edge `ioc demo` starts: motion detector on a generated scene without a model,
YOLOX once `ioc models install` put one under the data dir; events reach the real hub."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from edge.demo import start_demo_edge
from edge.models import install
from edge.scene_gen import FPS, SECONDS, render_frames
from tests.ioc.conftest import Factory, Hub


async def _until(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


def test_generated_scene_moves() -> None:
    frames = render_frames()
    assert len(frames) == FPS * SECONDS
    assert frames[0].shape == (360, 640, 3)
    assert float(abs(frames[0].astype(int) - frames[5].astype(int)).mean()) > 0.5  # things move


async def test_demo_edge_without_and_with_a_model(hub: Hub, make: Factory, shared_data: Path, tmp_path: Path) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[1])
    operator = await make.user("operator", tree.province)
    police = await make.user("police", tree.province)

    async def events_of(camera: str) -> list[dict]:
        r = await hub.client.get("/api/v1/events", params={"camera": camera}, headers=operator.headers)
        return r.json()["items"] if r.status_code == 200 else []

    demo = await asyncio.to_thread(start_demo_edge, hub.base_url, edge.token, tmp_path, None,
                                   edge_id=edge.id, camera_id="cam-demo-a", unit=tree.communes[1])
    try:
        assert demo.detector_kind == "motion"
        assert demo.source.endswith("generated_scene.mp4")

        async def intrusion() -> bool:
            return any(e["type"] == "security.intrusion" for e in await events_of("cam-demo-a"))

        await _until("an intrusion on the generated scene", intrusion, 40)

        async def proposed_violation() -> bool:
            # The lower carriageway is one-way in the demo: westbound shapes are proposed
            # to the review desk, with signed evidence the hub has verified.
            r = await hub.client.get("/api/v1/violations", headers=police.headers)
            for item in r.json()["items"] if r.status_code == 200 else []:
                detail = await hub.client.get(f"/api/v1/violations/{item['event_id']}", headers=police.headers)
                manifest = detail.json()["manifest"]
                if item["type"] == "traffic.wrong_way" and manifest and manifest["verified"]:
                    return True
            return False

        await _until("a wrong-way violation proposed to the review desk", proposed_violation, 40)
    finally:
        await asyncio.to_thread(demo.stop)

    install(shared_data / "yolox_nano.onnx", base=tmp_path)
    demo = await asyncio.to_thread(start_demo_edge, hub.base_url, edge.token, tmp_path,
                                   str(shared_data / "highway_720p.mp4"), edge_id=edge.id, camera_id="cam-demo-b",
                                   unit=tree.communes[1])
    try:
        assert demo.detector_kind == "yolox"
        assert demo.worker.heartbeat_body()["detector"] == {"kind": "yolox", "model": "yolox_nano.onnx"}

        async def online() -> bool:
            return any(e["type"] == "camera.online" for e in await events_of("cam-demo-b"))

        await _until("the highway camera online", online, 20)
    finally:
        await asyncio.to_thread(demo.stop)
