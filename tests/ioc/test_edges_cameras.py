"""Edge → hub extras: camera declaration, heartbeats (camera status on the wall), signing
keys, and the MJPEG preview proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from datetime import datetime, timezone
from typing import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
from websockets.asyncio.client import connect

from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub

# KPI samples upsert into the metrics hypertable: run on plain PostgreSQL and on TimescaleDB.
pytestmark = pytest.mark.both_databases


def _cams(*pairs: tuple[str, str]) -> dict:
    return {"cameras": [{"id": c, "name": f"Camera {c}", "unit": u, "lat": 10.77, "lon": 106.7} for c, u in pairs]}


async def test_camera_declaration_rules(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.districts[0])
    other = await make.edge(tree.districts[0])
    cam = f"cam-{secrets.token_hex(3)}"
    put = lambda e, body: hub.client.put("/api/v1/edges/self/cameras", json=body, headers=e.headers)  # noqa: E731
    r = await put(edge, _cams((cam, tree.communes[0])))
    assert r.status_code == 200 and r.json() == {"cameras": [cam]}
    assert (await put(edge, _cams((cam, tree.communes[1])))).status_code == 200  # re-declaring moves it
    r = await put(edge, _cams((f"{cam}-x", tree.communes[2])))
    assert r.status_code == 422 and "is not inside edge unit" in r.json()["detail"]
    r = await put(other, _cams((cam, tree.communes[0])))
    assert r.status_code == 409 and f"belongs to edge '{edge.id}'" in r.json()["detail"]
    r = await put(edge, {"cameras": [{"id": cam, "name": "x", "unit": tree.communes[0], "zoom": 3}]})
    assert r.status_code == 422 and "zoom" in r.json()["detail"]


async def test_heartbeat_updates_cameras_and_reaches_the_wall(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    viewer = await make.user("viewer", tree.province)
    body = {"ts": datetime.now(timezone.utc).isoformat(), "detector": {"kind": "yolox", "model": "yolox_nano.onnx"},
            "preview_url": None, "outbox_depth": 3,
            "cameras": [{"id": cam, "status": "online", "fps": 12.5, "dropped": 4, "latency_ms": 80.0}]}
    async with connect(hub.ws_url(f"/ws/events?token={viewer.token}")) as ws:
        await asyncio.sleep(0.1)
        r = await hub.client.post("/api/v1/edges/self/heartbeat", json=body, headers=edge.headers)
        assert r.status_code == 200 and r.json() == {"cameras": 1}
        async with asyncio.timeout(5):
            msg = json.loads(await ws.recv())
    assert msg["type"] == "system.camera_status" and msg["camera"] == cam and msg["status"] == "online"
    assert msg["stats"] == {"fps": 12.5, "dropped": 4, "latency_ms": 80.0} and msg["detector"]["kind"] == "yolox"
    cams = (await hub.client.get("/api/v1/cameras", headers=viewer.headers)).json()
    assert [(c["id"], c["status"], c["stats"]["fps"]) for c in cams] == [(cam, "online", 12.5)]
    # A camera whose edge went quiet is shown offline.
    await make.conn.execute("UPDATE cameras SET last_seen = now() - interval '1 hour' WHERE id = %s", (cam,))
    cams = (await hub.client.get("/api/v1/cameras", headers=viewer.headers)).json()
    assert cams[0]["status"] == "offline"
    bad = body | {"detector": {"kind": "magic"}}
    r = await hub.client.post("/api/v1/edges/self/heartbeat", json=bad, headers=edge.headers)
    assert r.status_code == 422 and "detector.kind" in r.json()["detail"]


async def test_signing_key_first_registration_and_admin_replacement(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[0])
    key1, key2 = (base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(2))
    put = lambda k: hub.client.put("/api/v1/edges/self/key", json={"public_key": k}, headers=edge.headers)  # noqa: E731
    assert (await put(key1)).json() == {"changed": True}
    assert (await put(key1)).json() == {"changed": False}
    r = await put(key2)
    assert r.status_code == 409 and "an admin must replace it" in r.json()["detail"]
    r = await put(base64.b64encode(b"short-key-short-key-short-key-sh!!").decode())
    assert r.status_code == 422 and "32-byte" in r.json()["detail"]
    operator = await make.user("operator", tree.province)
    assert (await hub.client.delete(f"/api/v1/edges/{edge.id}/key", headers=operator.headers)).status_code == 403
    outsider = await make.user("admin", tree.communes[1])
    # Outside the admin's units the edge does not exist (issue 8): the same 404 as a made-up id.
    r = await hub.client.delete(f"/api/v1/edges/{edge.id}/key", headers=outsider.headers)
    nothing = await hub.client.delete("/api/v1/edges/edge-none-such/key", headers=outsider.headers)
    assert (r.status_code, nothing.status_code) == (404, 404)
    assert r.json()["detail"] == f"edge {edge.id!r} does not exist"
    admin = await make.user("admin", tree.province)
    assert (await hub.client.delete(f"/api/v1/edges/{edge.id}/key", headers=admin.headers)).status_code == 204
    assert (await put(key2)).json() == {"changed": True}


async def _mjpeg_server(frames: list[bytes], *, repeat: int = 1) -> tuple[str, uvicorn.Server, asyncio.Task]:
    async def stream(request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for frame in frames * repeat:
                yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + frame + b"\r\n"
                await asyncio.sleep(0.01)
        return StreamingResponse(body(), media_type="multipart/x-mixed-replace; boundary=frame")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/{name}", stream)]), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, task


async def test_preview_is_proxied_for_users_in_scope(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    frames = [secrets.token_bytes(300) for _ in range(3)]
    url, server, task = await _mjpeg_server(frames)
    try:
        hb = {"ts": datetime.now(timezone.utc).isoformat(), "detector": {"kind": "motion", "model": None},
              "preview_url": url, "outbox_depth": 0, "cameras": [{"id": cam, "status": "online"}]}
        assert (await hub.client.post("/api/v1/edges/self/heartbeat", json=hb, headers=edge.headers)).status_code == 200
        viewer = await make.user("viewer", tree.districts[0])
        r = await hub.client.get(f"/api/v1/cameras/{cam}/preview.mjpg", headers=viewer.headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
        assert all(f in r.content for f in frames)
        stranger = await make.user("viewer", tree.districts[1])
        r = await hub.client.get(f"/api/v1/cameras/{cam}/preview.mjpg", headers=stranger.headers)
        assert r.status_code == 404
    finally:
        server.should_exit = True
        await task


async def test_metrics_samples_and_latest(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.districts[0])
    samples = [
        {"series": "dvc.on_time_rate", "ts": "2026-11-20T00:00:00Z", "value": 95.0, "unit": tree.communes[0], "uom": "%"},
        {"series": "dvc.on_time_rate", "ts": "2026-11-21T00:00:00Z", "value": 96.5, "unit": tree.communes[0], "uom": "%"},
        {"series": "feedback.open", "ts": "2026-11-21T00:00:00Z", "value": 12, "unit": tree.districts[0], "tags": {"source": "1022"}},
    ]
    r = await hub.client.post("/api/v1/metrics", json={"samples": samples}, headers=op.headers)
    assert r.status_code == 200 and r.json() == {"stored": 3}
    # re-sending a sample replaces its value
    r = await hub.client.post("/api/v1/metrics", json={"samples": [samples[1] | {"value": 97.0}]}, headers=op.headers)
    latest = (await hub.client.get("/api/v1/metrics/latest", headers=op.headers)).json()["items"]
    assert {(i["series"], i["value"]) for i in latest} == {("dvc.on_time_rate", 97.0), ("feedback.open", 12.0)}
    items = (await hub.client.get("/api/v1/metrics", params={"series": "dvc.on_time_rate"}, headers=op.headers)).json()["items"]
    assert [i["value"] for i in items] == [97.0, 95.0]
    for bad, words in [({"value": float("nan")}, "value"), ({"ts": "2026-11-21T00:00:00"}, "time zone"),
                       ({"series": "Bad Series"}, "series"), ({"unit": tree.districts[1]}, "outside your unit")]:
        r = await hub.client.post("/api/v1/metrics", content=json.dumps({"samples": [samples[0] | bad]}),
                                  headers=op.headers | {"Content-Type": "application/json"})
        assert r.status_code == 422 and words in r.json()["detail"], (bad, r.text)


async def test_health_and_prometheus(hub: Hub, make: Factory) -> None:
    r = await hub.client.get("/healthz")
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok", "broker_kind": "memory"}
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    await hub.client.post("/api/v1/events", json={"events": [make.event(edge, cam)]}, headers=edge.headers)
    text = (await hub.client.get("/metrics")).text
    assert 'ioc_events_ingested_total{result="accepted"} 1.0' in text
    assert "ioc_ws_clients 0.0" in text
    paths = (await hub.client.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/events", "/api/v1/evidence/{sha256}", "/api/v1/stats", "/api/v1/metrics", "/healthz"} <= set(paths)


async def test_watching_previews_does_not_hold_database_connections(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    url, server, task = await _mjpeg_server([secrets.token_bytes(100)], repeat=3000)  # ~30 s of frames
    viewers = hub.app.state.settings.pool_max + 4
    try:
        hb = {"ts": datetime.now(timezone.utc).isoformat(), "detector": {"kind": "motion", "model": None},
              "preview_url": url, "outbox_depth": 0, "cameras": [{"id": cam, "status": "online"}]}
        await hub.client.post("/api/v1/edges/self/heartbeat", json=hb, headers=edge.headers)
        viewer = await make.user("viewer", tree.province)
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(viewers):
                r = await stack.enter_async_context(
                    hub.client.stream("GET", f"/api/v1/cameras/{cam}/preview.mjpg", headers=viewer.headers))
                assert r.status_code == 200
                await r.aiter_raw().__anext__()  # frames are flowing
            async with asyncio.timeout(5):  # the API still has connections to work with
                assert (await hub.client.get("/api/v1/cameras", headers=viewer.headers)).status_code == 200
    finally:
        server.should_exit = True
        await task
