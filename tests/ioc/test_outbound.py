"""Issue 8 defect 5: the hub opens camera streams only where cameras are, never where a
user or an edge points it (server-side request forgery).

A real "internal service" listens on 127.0.0.2 and counts every request it gets; the
hub must never reach it through a meeting camera share or the preview proxy, and what
it answers must never come back to the caller (`last_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import psycopg
import pytest

from conferencing.config import RelayConfig
from conferencing.server import Relay
from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub

SECRET_ANSWER = b"INTERNAL-ADMIN-PANEL root=hunter2"


class Internal:
    """An HTTP service the hub must not reach; `hits` counts requests."""

    def __init__(self, host: str) -> None:
        internal = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                internal.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                self.wfile.write(SECRET_ANSWER)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[Internal]:
    service = Internal("127.0.0.2")
    try:
        yield service
    finally:
        service.close()


@contextlib.asynccontextmanager
async def meeting(hub: Hub, make: Factory):
    tree = await make.tree()
    relay = Relay(RelayConfig(unit=tree.province, port=free_port()), secret=hub.app.state.settings.relay_secret.get_secret_value())
    await relay.start()
    chair = await make.user("official", tree.province)
    r = await hub.client.post("/api/v1/meetings", headers=chair.headers, json={
        "title": "Họp giao ban", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: relay.url}})
    assert r.status_code == 201, r.text
    try:
        yield tree, r.json()["id"]
    finally:
        await relay.stop()


def beat(preview_url: str | None, cam: str) -> dict[str, Any]:
    return {"ts": datetime.now(timezone.utc).isoformat(), "detector": {"kind": "motion", "model": None},
            "preview_url": preview_url, "outbox_depth": 0, "cameras": [{"id": cam, "status": "online"}]}


FORBIDDEN_URLS = [
    "INTERNAL",                                  # the counting service itself (127.0.0.2)
    "http://127.0.0.1:8000/internal-admin",
    "http://localhost:5432/",
    "http://[::1]:8000/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "rtsp://10.0.0.1:554/stream",
    "rtsp://192.168.1.10/stream",
    "http://0.0.0.0:8000/",
    "http://[::ffff:127.0.0.1]:8000/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
]


@pytest.mark.parametrize("target", FORBIDDEN_URLS)
async def test_a_share_url_to_a_non_camera_host_is_refused(hub: Hub, make: Factory, internal: Internal, target: str) -> None:
    async with meeting(hub, make) as (tree, meeting_id):
        operator = await make.user("operator", tree.province)
        url = internal.url + "/internal-admin" if target == "INTERNAL" else target
        r = await hub.client.post(f"/api/v1/meetings/{meeting_id}/share-camera", json={"url": url}, headers=operator.headers)
        assert r.status_code == 422, r.text
        shares = await hub.client.get(f"/api/v1/meetings/{meeting_id}/shares", headers=operator.headers)
        assert shares.json()["items"] == []
        await asyncio.sleep(0.5)
        assert internal.hits == 0


async def test_a_commune_user_cannot_share_another_communes_camera(hub: Hub, make: Factory) -> None:
    async with meeting(hub, make) as (tree, meeting_id):
        cam = f"cam-{secrets.token_hex(3)}"
        await make.edge(tree.communes[1], cameras=[(cam, tree.communes[1])])
        operator = await make.user("operator", tree.communes[0])
        r = await hub.client.post(f"/api/v1/meetings/{meeting_id}/share-camera", json={"camera_id": cam},
                                  headers=operator.headers)
        assert r.status_code == 404, r.text


async def test_an_allow_listed_camera_host_is_opened_but_its_answer_never_echoed(
    hub: Hub, make: Factory, internal: Internal
) -> None:
    hub.app.state.settings.camera_hosts_allow = ["127.0.0.2/32"]
    async with meeting(hub, make) as (tree, meeting_id):
        operator = await make.user("operator", tree.province)
        r = await hub.client.post(f"/api/v1/meetings/{meeting_id}/share-camera",
                                  json={"url": internal.url + "/cam.mjpg"}, headers=operator.headers)
        assert r.status_code == 202, r.text
        deadline = asyncio.get_running_loop().time() + 20
        items: list[dict[str, Any]] = []
        while asyncio.get_running_loop().time() < deadline:
            items = (await hub.client.get(f"/api/v1/meetings/{meeting_id}/shares", headers=operator.headers)).json()["items"]
            if internal.hits and items and items[0]["last_error"]:
                break
            await asyncio.sleep(0.3)
        assert internal.hits >= 1
        assert items and items[0]["last_error"], items
        text = str(items)
        assert "INTERNAL" not in text and "hunter2" not in text and "127.0.0.2" not in items[0]["last_error"]
        await hub.client.delete(f"/api/v1/meetings/{meeting_id}/shares/{items[0]['key']}", headers=operator.headers)


async def test_a_heartbeat_cannot_point_the_preview_proxy_elsewhere(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, internal: Internal
) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    viewer = await make.user("viewer", tree.communes[0])
    # The edge connects from 127.0.0.1; the "internal" service is 127.0.0.2.
    for target in (internal.url, "http://169.254.169.254", "http://localhost:9000"):
        r = await hub.client.post("/api/v1/edges/self/heartbeat", json=beat(target, cam), headers=edge.headers)
        assert r.status_code == 200 and "not this edge's own address" in r.json()["preview_refused"], r.text
        row = await (await db.execute("SELECT preview_url FROM edges WHERE id = %s", (edge.id,))).fetchone()
        assert row["preview_url"] is None
        r = await hub.client.get(f"/api/v1/cameras/{cam}/preview.mjpg", headers=viewer.headers)
        assert r.status_code == 404, r.text
    assert internal.hits == 0


async def test_a_preview_url_stored_before_the_fix_is_not_followed(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, internal: Internal
) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    await db.execute("UPDATE edges SET preview_url = %s, preview_from = NULL WHERE id = %s", (internal.url, edge.id))
    viewer = await make.user("viewer", tree.communes[0])
    r = await hub.client.get(f"/api/v1/cameras/{cam}/preview.mjpg", headers=viewer.headers)
    assert r.status_code == 404
    async with meeting(hub, make) as (tree2, meeting_id):
        cam2 = f"cam-{secrets.token_hex(3)}"
        edge2 = await make.edge(tree2.province, cameras=[(cam2, tree2.province)])
        await db.execute("UPDATE edges SET preview_url = %s, preview_from = '127.0.0.1' WHERE id = %s",
                         (internal.url, edge2.id))
        operator = await make.user("operator", tree2.province)
        r = await hub.client.post(f"/api/v1/meetings/{meeting_id}/share-camera", json={"camera_id": cam2},
                                  headers=operator.headers)
        assert r.status_code == 404, r.text
    assert internal.hits == 0


async def test_an_edge_preview_on_its_own_address_still_works(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    local = Internal("127.0.0.1")  # same address as the edge's connection
    try:
        r = await hub.client.post("/api/v1/edges/self/heartbeat", json=beat(local.url, cam), headers=edge.headers)
        assert r.json() == {"cameras": 1}
        row = await (await db.execute("SELECT preview_from FROM edges WHERE id = %s", (edge.id,))).fetchone()
        assert row["preview_from"] == "127.0.0.1"
        viewer = await make.user("viewer", tree.communes[0])
        r = await hub.client.get(f"/api/v1/cameras/{cam}/preview.mjpg", headers=viewer.headers)
        assert r.status_code == 200 and local.hits == 1
    finally:
        local.close()
