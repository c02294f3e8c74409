"""`WS /ws/events` against real servers: resume without gap or duplicate, scope, filters,
acknowledgements, heartbeats, and slow clients that lag without slowing others."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ioc.broker import FanOut, LiveMessage
from ioc.settings import Settings
from tests.ioc.conftest import EdgeLogin, Factory, Hub, start_hub, stop_hub

# Resume reads the events hypertable by rx_seq: run on plain PostgreSQL and on TimescaleDB.
pytestmark = pytest.mark.both_databases


def _ws(hub: Hub, token: str, **params: str) -> str:
    return hub.ws_url(f"/ws/events?{urlencode({'token': token} | params)}")


async def _events(ws: ClientConnection, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The next `count` event envelopes (system messages are skipped)."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            msg = json.loads(await ws.recv())
            if not msg["type"].startswith("system."):
                got.append(msg)
    return got


async def _post(hub: Hub, edge: EdgeLogin, events: list[dict[str, Any]]) -> None:
    r = await hub.client.post("/api/v1/events", json={"events": events}, headers=edge.headers)
    assert r.status_code == 200 and len(r.json()["accepted"]) == len(events), r.text


async def test_resume_after_reconnect_mid_burst_has_no_gap_and_no_duplicate(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    op = await make.user("operator", tree.province)
    burst = [make.event(edge, cam, seq=i) for i in range(400)]

    async def send() -> None:
        for start in range(0, len(burst), 10):
            await _post(hub, edge, burst[start : start + 10])
            await asyncio.sleep(0.005)

    async with connect(_ws(hub, op.token)) as ws:
        sender = asyncio.create_task(send())
        first = await _events(ws, 120)
    # Disconnected in the middle of the burst; events keep arriving meanwhile.
    await asyncio.sleep(0.2)
    assert not sender.done(), "the burst should still be running when the client reconnects"
    async with connect(_ws(hub, op.token, since=first[-1]["id"])) as ws:
        rest = await _events(ws, len(burst) - len(first))
        await sender
        with pytest.raises(TimeoutError):  # nothing more: no duplicates after the end either
            await _events(ws, 1, timeout=0.5)
    ids = [e["id"] for e in first + rest]
    assert ids == [e["id"] for e in burst]
    assert first[0] == json.loads(json.dumps(burst[0]))  # the wire form is exactly the envelope


async def test_scope_and_filters_are_enforced_by_the_server(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cams = {c: f"cam-{secrets.token_hex(3)}" for c in tree.communes}
    edge = await make.edge(tree.province, cameras=[(cam, unit) for unit, cam in cams.items()])
    commune_user = await make.user("viewer", tree.communes[0])
    district_user = await make.user("operator", tree.districts[1])

    async with connect(_ws(hub, commune_user.token)) as mine, \
               connect(_ws(hub, district_user.token, types="security.")) as district:
        events = [make.event(edge, cam, type=kind) for cam in cams.values() for kind in ("traffic.speeding", "security.loitering")]
        await _post(hub, edge, events)
        got_mine = await _events(mine, 2)
        got_district = await _events(district, 2)
        with pytest.raises(TimeoutError):
            await _events(mine, 1, timeout=0.5)
    assert {e["camera"] for e in got_mine} == {cams[tree.communes[0]]}
    assert {(e["camera"], e["type"]) for e in got_district} == {
        (cams[tree.communes[2]], "security.loitering"), (cams[tree.communes[3]], "security.loitering")}

    # Asking for a unit outside one's scope closes the socket with 4403; no token: 4401.
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(_ws(hub, commune_user.token, unit=tree.communes[1])) as ws:
            await ws.recv()
    assert closed.value.rcvd.code == 4403
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(hub.ws_url("/ws/events")) as ws:
            await ws.recv()
    assert closed.value.rcvd.code == 4401


async def test_acknowledgement_reaches_every_wall_in_scope(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    op = await make.user("operator", tree.province)
    wall = await make.user("viewer", tree.districts[0])
    elsewhere = await make.user("viewer", tree.districts[1])
    event = make.event(edge, cam, severity="critical")
    await _post(hub, edge, [event])
    async with connect(_ws(hub, wall.token)) as wall_ws, connect(_ws(hub, elsewhere.token)) as other_ws:
        await asyncio.sleep(0.1)
        r = await hub.client.post(f"/api/v1/events/{event['id']}/ack", headers=op.headers)
        assert r.status_code == 200 and r.json()["changed"] is True
        async with asyncio.timeout(5):
            msg = json.loads(await wall_ws.recv())
        assert msg["type"] == "system.acknowledged" and msg["id"] == event["id"] and msg["by"] == op.user.username
        assert set(msg) == {"type", "id", "by", "at"}
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await other_ws.recv()
    again = await hub.client.post(f"/api/v1/events/{event['id']}/ack", headers=op.headers)
    assert again.json()["changed"] is False and again.json()["by"] == op.user.username


async def test_heartbeat_when_idle(hub_settings: Settings, make: Factory) -> None:
    running, task = await start_hub(hub_settings.model_copy(update={"ws_heartbeat_s": 0.3}))
    try:
        make.hub = running
        tree = await make.tree()
        viewer = await make.user("viewer", tree.province)
        async with connect(_ws(running, viewer.token)) as ws:
            async with asyncio.timeout(3):
                msg = json.loads(await ws.recv())
        assert msg["type"] == "system.heartbeat"
    finally:
        await stop_hub(running, task)


async def test_slow_client_lags_and_skips_ahead_without_slowing_others(hub_settings: Settings, make: Factory) -> None:
    running, task = await start_hub(hub_settings.model_copy(update={"ws_queue": 100}))
    try:
        make.hub = running
        tree = await make.tree()
        cam = f"cam-{secrets.token_hex(3)}"
        edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
        viewer = await make.user("viewer", tree.province)
        filler = "x" * 16_000  # big events fill the slow client's socket buffers quickly
        events = [make.event(edge, cam, seq=i, payload={"note": filler}) for i in range(600)]
        # A client that reads nothing, with a tiny socket receive buffer: the hub's sends to it block.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(running.base_url.rsplit(":", 1)[1])))
        async with connect(_ws(running, viewer.token), sock=sock, max_queue=1, max_size=None, compression=None) as slow, \
                   connect(_ws(running, viewer.token), max_size=None) as fast:
            reader = asyncio.create_task(_events(fast, len(events), timeout=60))
            for start in range(0, len(events), 50):  # batches smaller than the queue: a reader keeps up
                await _post(running, edge, events[start : start + 50])
                await asyncio.sleep(0.05)
            fast_got = await reader
            assert [e["id"] for e in fast_got] == [e["id"] for e in events]
            # Now read the slow one: it is told it lagged, and every event is either
            # delivered or counted as skipped.
            seen, lagged = 0, []
            async with asyncio.timeout(30):
                while seen + sum(m["skipped"] for m in lagged) < len(events):
                    msg = json.loads(await slow.recv())
                    if msg["type"] == "system.lagged":
                        lagged.append(msg)
                    elif not msg["type"].startswith("system."):
                        seen += 1
        assert lagged and all(m["skipped"] > 0 for m in lagged)
        assert seen + sum(m["skipped"] for m in lagged) == len(events)
    finally:
        await stop_hub(running, task)


def test_fanout_drops_for_a_full_queue_only() -> None:
    fanout = FanOut()
    slow = fanout.subscribe(user_unit="p", maxsize=2)
    fast = fanout.subscribe(user_unit="p", maxsize=100)
    other = fanout.subscribe(user_unit="q", maxsize=100)
    messages = [LiveMessage.event(rx=i + 1, event={"type": "traffic.x", "camera": "c", "id": str(i)}, scope=("p", "p1"))
                for i in range(10)]
    fanout.dispatch(messages)
    assert len(slow.drain()) == 2 and slow.take_dropped() == 8
    assert [m.rx for m in fast.drain()] == list(range(1, 11))
    assert other.drain() == []


async def test_unknown_or_bad_since(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    viewer = await make.user("viewer", tree.province)
    async with connect(_ws(hub, viewer.token, since="018f3c1e-0000-7000-8000-000000000000")) as ws:
        async with asyncio.timeout(5):
            msg = json.loads(await ws.recv())
    assert msg["type"] == "system.lagged" and "unknown event id" in msg["reason"]
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(_ws(hub, viewer.token, since="1; DROP TABLE events")) as ws:
            await ws.recv()
    assert closed.value.rcvd.code == 4400
