"""Cascade behaviour in one process: any depth, local meetings survive the parent, attendance, recording."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import av
import pytest

from conferencing.client import RelayClient
from conferencing.config import RelayConfig
from conferencing.pattern import PatternTrack, colour_close, read_pattern
from conferencing.server import Relay
from contract.tokens import verify_join_token
from tests.conferencing.helpers import GREEN, RED, SECRET, FrameWatcher, token
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(180)


def _pattern(colour):
    return lambda: [(None, PatternTrack(colour, width=320, height=180, fps=15))]


class Env:
    def __init__(self) -> None:
        self.relays: list[Relay] = []
        self.clients: list[RelayClient] = []
        self.watchers: dict[str, FrameWatcher] = {}

    async def relay(self, unit: str, parent: Relay | None = None, port: int = 0, **kw) -> Relay:
        relay = Relay(RelayConfig(unit=unit, port=port, parent_url=parent.url if parent else None,
                                  reconnect_max_s=0.5, **kw), secret=SECRET)
        await relay.start()
        self.relays.append(relay)
        return relay

    async def client(self, name: str, relay: Relay, role: str = "participant", colour=None, slots=("chair", "spotlight"),
                     url: str | None = None) -> RelayClient:
        codec = relay.config.video_codec
        self.watchers[name] = FrameWatcher(name)
        client = RelayClient(url or relay.url, token(name, role, pub=colour is not None, unit=relay.config.unit),
                             publish=_pattern(colour) if colour else None, slots=list(slots), receive_audio=False,
                             on_track=self.watchers[name].on_track, name=name, reconnect_max_s=0.5,
                             video_codec=codec)
        self.clients.append(client)
        await client.start()
        await client.wait_connected(20)
        return client

    async def close(self) -> None:
        for w in self.watchers.values():
            w.stop()
        for c in self.clients:
            await c.stop()
        for r in reversed(self.relays):
            await r.stop()


@pytest.fixture
async def env():
    e = Env()
    yield e
    await e.close()


async def _eventually(predicate, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_four_tier_relay_chain(env: Env, codec: str) -> None:
    """province → district → commune relay → endpoint: media both ways, actions up, state down."""
    province = await env.relay("26", video_codec=codec)
    district = await env.relay("744", province, video_codec=codec)
    commune = await env.relay("26734", district, video_codec=codec)
    chair = await env.client("chair", province, "chair", RED, slots=("spotlight",))
    e1 = await env.client("e1", commune, "participant", GREEN)
    await env.watchers["e1"].wait_for(0, RED, timeout=20)  # chair, three relays down
    await e1.send({"type": "raise_hand"})
    await _eventually(lambda: chair.state and chair.state["hands"] == ["e1"])
    await chair.send({"type": "spotlight", "participant": "e1"})
    took = await env.watchers["chair"].wait_for(0, GREEN, timeout=5)  # e1, three relays up
    assert took < 1.0
    assert chair.state["hands"] == []
    via = {p["id"]: p["via"] for p in chair.state["participants"]}
    assert via == {"chair": None, "e1": "relay-744"}


async def test_child_keeps_meeting_without_parent_and_rejoins(env: Env) -> None:
    port = free_port()
    province = await env.relay("26", port=port)
    district = await env.relay("744", province)
    await env.client("chair", province, "chair", RED, slots=())
    await env.client("a", district, "participant", GREEN, slots=())
    b = await env.client("b", district, "participant", None, slots=("chair", "participant:a"))
    await env.watchers["b"].wait_for(0, RED, timeout=20)
    await env.watchers["b"].wait_for(1, GREEN, timeout=10)

    await province.stop()
    env.relays.remove(province)
    await _eventually(lambda: not district.rooms["m-1"].link.connected)
    await asyncio.sleep(1.0)
    assert env.watchers["b"].shows(1, GREEN)  # the district's own meeting goes on
    await b.send({"type": "raise_hand"})
    await _eventually(lambda: b.state["hands"] == ["b"])  # decided locally meanwhile

    province = await env.relay("26", port=port)  # the parent returns on the same address
    await _eventually(lambda: district.rooms["m-1"].link.connected, timeout=20)
    await _eventually(lambda: env.clients[0].connected.is_set(), timeout=20)  # the chair's endpoint reconnects too
    env.watchers["b"].last.clear()
    await env.watchers["b"].wait_for(0, RED, timeout=20)
    assert district.rooms["m-1"].link.outages == 1


class _Hub(BaseHTTPRequestHandler):
    records: list[tuple[str, str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.records.append((self.path, self.headers.get("Authorization", ""), body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("hub_token", ["hub-relay-token", None], ids=["hub-token", "minted"])
async def test_attendance_goes_to_the_hub(env: Env, hub_token: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_RELAY_HUB_TOKEN", raising=False)
    _Hub.records = []
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        relay = await env.relay("744", hub_url=f"http://127.0.0.1:{server.server_port}", hub_token=hub_token)
        chair = await env.client("chair", relay, "chair", slots=())
        p = await env.client("p1", relay, slots=())
        await p.stop()
        await chair.send({"type": "end"})
        await _eventually(lambda: [r[2]["event"] for r in _Hub.records].count("end") == 1)
    finally:
        server.shutdown()
    events = [(r[2]["participant"], r[2]["event"]) for r in _Hub.records]
    assert events[:3] == [("chair", "join"), ("p1", "join"), ("p1", "leave")] and ("chair", "end") in events
    path, auth, join = _Hub.records[1]
    assert path == "/api/v1/meetings/m-1/attendance"
    if hub_token:
        assert auth == f"Bearer {hub_token}"
    else:
        claims = verify_join_token(auth.removeprefix("Bearer "), room="m-1", secret=SECRET)
        assert (claims.role, claims.unit) == ("relay", "744")
    assert (join["participant"], join["unit"], join["role"], join["relay"]) == ("p1", "744", "participant", "744")
    assert _Hub.records[2][2]["at"] >= join["at"]


async def test_recording_of_the_floor(env: Env, tmp_path: Path) -> None:
    relay = await env.relay("26", record_dir=str(tmp_path))
    await env.client("chair", relay, "chair", RED, slots=())
    await asyncio.sleep(3.0)
    await relay.stop()
    env.relays.remove(relay)
    files = list(tmp_path.glob("m-1-*.mp4"))
    assert len(files) == 1
    with av.open(str(files[0])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) > 10
    colour, _ = read_pattern(frames[-1])
    assert colour_close(colour, RED)


async def test_chair_mutes_a_participant_of_a_child_relay(env: Env) -> None:
    from aiortc.mediastreams import AudioStreamTrack

    province = await env.relay("26")
    district = await env.relay("744", province)
    chair = await env.client("chair", province, "chair", RED, slots=())
    speaker = RelayClient(district.url, token("e1", unit="744"), publish=lambda: [(AudioStreamTrack(), None)], slots=[],
                          name="e1")
    env.clients.append(speaker)
    await speaker.start()
    await speaker.wait_connected(20)
    viewer = RelayClient(province.url, token("v", "viewer", pub=False), slots=["participant:e1"], name="v")
    env.clients.append(viewer)
    await viewer.start()
    await viewer.wait_connected(20)
    listener = province.rooms["m-1"].sessions["v"].slots[0].audio
    await _eventually(lambda: listener.forwarded > 20, timeout=15)  # e1's audio comes up through the district
    await chair.send({"type": "mute", "participant": "e1"})
    await _eventually(lambda: speaker.state and speaker.state["muted"] == ["e1"])
    fan = district.rooms["m-1"].sessions["e1"].pairs[0].audio
    assert fan.enabled is False  # enforced where the source is, one tier down
    await asyncio.sleep(0.3)
    before = listener.forwarded
    await asyncio.sleep(1.0)
    assert listener.forwarded - before <= 2
    await speaker.send({"type": "mute", "participant": "e1", "muted": False, "id": "x"})
    await _eventually(lambda: any(e.get("id") == "x" and e["code"] == "forbidden" for e in speaker.errors))
