"""The live fan-out's fast path: frames encoded once, written straight to idle clients'
sockets, one write per batch; and its fall-backs (full socket, oversized batch, deflate)."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from ioc.api.ws import _DirectWriter
from ioc.broker import LiveMessage, Subscriber
from ioc.broker.base import ws_text_frame
from tests.ioc.conftest import Factory, Hub


def _parse_all(data: bytes) -> list[Frame]:
    """Every frame in `data`, parsed by websockets' own (client-side) parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError("incomplete frame")
    return frames


@pytest.mark.parametrize(
    "text", ["", "a" * 125, "b" * 126, "c" * 65_535, "d" * 65_536, '{"plate":"59-X1 123.45","đường":"Lê Lợi"}']
)
def test_ws_text_frame_is_what_a_client_parses(text: str) -> None:
    [frame] = _parse_all(ws_text_frame(text))
    assert frame.fin and frame.opcode == Opcode.TEXT and not frame.rsv1
    assert frame.data.decode() == text


def _msg(rx: int, type_: str = "traffic.red_light") -> LiveMessage:
    return LiveMessage(rx, type_, "cam-1", ("01", "0101"), json.dumps({"id": str(rx), "type": type_}))


class _Socket:
    """A direct writer that records what it was given, or refuses everything."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.writes: list[bytes] = []

    def __call__(self, data: bytes) -> bool:
        if self.accept:
            self.writes.append(data)
        return self.accept


def test_idle_subscriber_gets_a_batch_in_one_write_filtered_and_without_repeats() -> None:
    sub = Subscriber(user_unit="01", types=("traffic.",), maxsize=8)
    sock = _Socket()
    sub.direct = sock
    sub.last_rx = 1
    sub.offer_batch([_msg(1), _msg(2), _msg(3, "security.intrusion"), _msg(4)])
    assert len(sock.writes) == 1
    assert [json.loads(f.data)["id"] for f in _parse_all(sock.writes[0])] == ["2", "4"]
    assert sub.pending == 0 and sub.last_rx == 4
    sub.offer_batch([_msg(3), _msg(4)])  # already sent (a resume read them from the database)
    assert len(sock.writes) == 1


@pytest.mark.parametrize(
    ("accept", "queued", "batch", "expect_pending", "expect_dropped", "direct_left"),
    [
        (False, 0, 3, 3, 0, False),  # socket full or closing: queued, the session takes over
        (True, 0, 9, 8, 1, True),  # bigger than the queue: overflows it as before, lagged follows
        (True, 1, 2, 3, 0, True),  # messages already queued: keep their order, queue behind them
    ],
)
def test_direct_path_falls_back_to_the_queue(
    accept: bool, queued: int, batch: int, expect_pending: int, expect_dropped: int, direct_left: bool
) -> None:
    sub = Subscriber(user_unit="01", maxsize=8)
    for rx in range(1, queued + 1):
        sub.offer(_msg(rx))
    sock = _Socket(accept)
    sub.direct = sock
    sub.offer_batch([_msg(rx) for rx in range(queued + 1, queued + batch + 1)])
    assert sock.writes == []
    assert sub.pending == expect_pending and sub.take_dropped() == expect_dropped
    assert (sub.direct is not None) == direct_left


def _ws(hub: Hub, token: str, **params: str) -> str:
    return hub.ws_url(f"/ws/events?{urlencode({'token': token} | params)}")


async def _ids(ws: Any, count: int, timeout: float = 20) -> list[str]:
    got: list[str] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            msg = json.loads(await ws.recv())
            if not msg["type"].startswith("system."):
                got.append(msg["id"])
    return got


async def _until(predicate: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(("compression", "direct"), [(None, True), ("deflate", False)])
async def test_resume_mid_burst_over_the_direct_path_and_without_it(
    hub: Hub, make: Factory, compression: str | None, direct: bool
) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    op = await make.user("operator", tree.province)
    burst = [make.event(edge, cam, seq=i) for i in range(400)]
    fanout = hub.app.state.broker.fanout

    async def send() -> None:
        for start in range(0, len(burst), 10):
            batch = burst[start : start + 10]
            r = await hub.client.post("/api/v1/events", json={"events": batch}, headers=edge.headers)
            assert r.status_code == 200 and len(r.json()["accepted"]) == 10, r.text
            await asyncio.sleep(0.02)

    async with connect(_ws(hub, op.token), compression=compression) as ws:
        # Idle and live: the fan-out writes to this client itself only without deflate.
        await _until(lambda: len(fanout) == 1)
        await asyncio.sleep(0.1)
        assert [sub.direct is not None for sub in fanout] == [direct]
        sender = asyncio.create_task(send())
        first = await _ids(ws, 90)
    await asyncio.sleep(0.2)
    assert not sender.done(), "the burst should still be running when the client reconnects"
    async with connect(_ws(hub, op.token, since=first[-1]), compression=compression) as ws:
        rest = await _ids(ws, len(burst) - len(first))
        await sender
        with pytest.raises(TimeoutError):  # nothing more: no duplicates after the end either
            await _ids(ws, 1, timeout=0.5)
    assert first + rest == [e["id"] for e in burst]
    await _until(lambda: len(fanout) == 0)


def test_no_direct_writer_where_the_socket_cannot_be_reached() -> None:
    # Starlette's test client is not uvicorn: the session must fall back to ASGI sends.
    app = FastAPI()

    @app.websocket("/probe")
    async def probe(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("found" if _DirectWriter.find(ws) is not None else "none")
        await ws.close()

    with TestClient(app) as client, client.websocket_connect("/probe") as ws:
        assert ws.receive_text() == "none"
