"""The relay forwards encoded media: frames arrive intact, slots follow the floor, PLI/NACK work."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack

from conferencing.client import RelayClient
from conferencing.config import RelayConfig
from conferencing.forwarding import tap_receiver
from conferencing.pattern import EncodedPatternTrack, PatternTrack, encode_pattern
from conferencing.server import Relay
from tests.conferencing.helpers import BLUE, GREEN, RED, SECRET, FrameWatcher, token

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def relay_factory():
    relays: list[Relay] = []
    clients: list[RelayClient] = []

    async def make(**kw) -> Relay:
        relay = Relay(RelayConfig(port=0, **kw), secret=SECRET)
        await relay.start()
        relays.append(relay)
        return relay

    make.clients = clients  # type: ignore[attr-defined]
    yield make
    for client in clients:
        await client.stop()
    for relay in relays:
        await relay.stop()


async def _client(factory, relay: Relay, *args, **kw) -> RelayClient:
    client = RelayClient(relay.url, *args, **kw)
    factory.clients.append(client)
    await client.start()
    await client.wait_connected(15)
    return client


def _small(colour):
    return lambda: [(None, PatternTrack(colour, width=320, height=180, fps=15))]


async def test_chair_video_reaches_participant(relay_factory) -> None:
    relay = await relay_factory()
    watcher = FrameWatcher("p1")
    await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    await _client(relay_factory, relay, token("p1", pub=False), slots=["chair"], on_track=watcher.on_track, name="p1")
    await watcher.wait_for(0, RED, timeout=10)
    before = watcher.frames[0]
    await asyncio.sleep(1.0)
    # Frames keep coming at about the published rate, and they are recent.
    assert watcher.frames[0] - before >= 8
    assert watcher.last[0].age_ms < 1000
    room = relay.summary()["rooms"][0]
    assert room["state"]["chair"] == "chair" and room["forwarded"] > 0


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_forwarded_frames_are_the_published_bytes(relay_factory, codec: str) -> None:
    """No re-encoding: what the subscriber reassembles is byte for byte what was published."""
    relay = await relay_factory(video_codec=codec)
    packets = encode_pattern(codec, frames=50, width=320, height=180, fps=25)
    received: list[bytes] = []

    def on_receiver(slot: int, kind: str, receiver) -> None:
        if kind == "video":
            tap_receiver(receiver, lambda c, data, ts: received.append(data))

    await _client(relay_factory, relay, token("chair", "chair"), publish=lambda: [(None, EncodedPatternTrack(packets))],
                  slots=[], video_codec=codec, name="chair")
    await _client(relay_factory, relay, token("p1", pub=False), slots=["chair"], on_receiver=on_receiver,
                  video_codec=codec, name="p1")
    deadline = time.monotonic() + 10
    while len(received) < 30 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(received) >= 30

    def norm(data: bytes) -> bytes:
        # H.264 start codes may be 3 or 4 bytes after packetization; the NAL units are what count.
        return data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01") if codec == "H264" else data

    published = {norm(p) for p in packets}
    assert all(norm(r) in published for r in received), "a forwarded frame differs from every published frame"


async def test_spotlight_switches_slot_without_renegotiation(relay_factory) -> None:
    relay = await relay_factory()
    watcher = FrameWatcher("viewer")
    chair = await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    await _client(relay_factory, relay, token("p1"), publish=_small(GREEN), slots=[], name="p1")
    viewer = await _client(relay_factory, relay, token("v", "viewer", pub=False), slots=["spotlight", "chair"],
                           on_track=watcher.on_track, name="viewer")
    await watcher.wait_for(0, RED, timeout=10)
    await chair.send({"type": "spotlight", "participant": "p1"})
    took = await watcher.wait_for(0, GREEN, timeout=3)
    assert took < 1.0
    assert watcher.shows(1, RED)  # the chair slot still shows the chair
    await asyncio.sleep(0.1)
    assert viewer.state["spotlight"] == "p1"
    assert viewer.slots[0]["participant"] == "p1" and viewer.slots[0]["name"] == "Đại biểu p1"
    assert viewer.connects == 1  # same peer connection throughout


async def test_auto_slots_show_raised_hands_first(relay_factory) -> None:
    relay = await relay_factory()
    watcher = FrameWatcher("viewer")
    await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    await _client(relay_factory, relay, token("p1"), publish=_small(GREEN), slots=[], name="p1")
    p2 = await _client(relay_factory, relay, token("p2"), publish=_small(BLUE), slots=[], name="p2")
    await _client(relay_factory, relay, token("v", "viewer", pub=False), slots=["auto:0"], on_track=watcher.on_track,
                  name="viewer")
    await watcher.wait_for(0, GREEN, timeout=10)  # by join order
    await p2.send({"type": "raise_hand"})
    await watcher.wait_for(0, BLUE, timeout=3)  # raised hand first


async def test_mute_stops_audio_forwarding(relay_factory) -> None:
    relay = await relay_factory()
    chair = await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    p1 = await _client(relay_factory, relay, token("p1"), publish=lambda: [(AudioStreamTrack(), None)], slots=[], name="p1")
    await _client(relay_factory, relay, token("v", "viewer", pub=False), slots=["auto:0"], name="viewer")
    room = relay.rooms["m-1"]
    viewer_slot = room.sessions["v"].slots[0]
    await asyncio.sleep(1.0)
    assert viewer_slot.audio.forwarded > 10
    await chair.send({"type": "mute", "participant": "p1"})
    await asyncio.sleep(0.3)
    muted_at = viewer_slot.audio.forwarded
    await asyncio.sleep(1.0)
    assert viewer_slot.audio.forwarded - muted_at <= 2
    assert p1.state["muted"] == ["p1"]
    # p1 cannot unmute what the chair muted.
    await p1.send({"type": "mute", "participant": "p1", "muted": False, "id": "um"})
    await asyncio.sleep(0.3)
    assert p1.errors[-1]["code"] == "forbidden" and p1.errors[-1]["id"] == "um"


@pytest.mark.parametrize(
    ("role", "message", "code"),
    [
        ("participant", {"type": "spotlight", "participant": "chair"}, "forbidden"),
        ("participant", {"type": "end"}, "forbidden"),
        ("participant", {"type": "mute", "participant": "chair"}, "forbidden"),
        ("viewer", {"type": "raise_hand"}, "forbidden"),
        ("participant", {"type": "roster", "participants": []}, "forbidden"),
        ("participant", {"type": "subscribe", "slots": ["spotlight"]}, "no_slots"),
    ],
)
async def test_actions_need_their_role(relay_factory, role: str, message: dict, code: str) -> None:
    relay = await relay_factory()
    await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    who = await _client(relay_factory, relay, token("x", role, pub=role != "viewer"), slots=[], name="x")
    await who.send({**message, "id": "m1"})
    for _ in range(50):
        if who.errors:
            break
        await asyncio.sleep(0.02)
    assert who.errors and who.errors[-1]["code"] == code and who.errors[-1]["id"] == "m1"
    state = relay.rooms["m-1"].state()
    assert state["spotlight"] is None and not state["ended"]


async def test_viewer_cannot_publish(relay_factory) -> None:
    relay = await relay_factory()
    await _client(relay_factory, relay, token("v", "viewer", pub=True), publish=_small(GREEN), slots=[], name="v")
    assert relay.rooms["m-1"].sessions["v"].pairs == []


async def test_chair_ends_meeting(relay_factory) -> None:
    relay = await relay_factory()
    chair = await _client(relay_factory, relay, token("chair", "chair"), slots=[], name="chair")
    p1 = await _client(relay_factory, relay, token("p1"), slots=[], name="p1")
    await chair.send({"type": "end"})
    for _ in range(100):
        if p1.ended and "m-1" not in relay.rooms:
            break
        await asyncio.sleep(0.05)
    assert p1.ended and chair.ended
    late = RelayClient(relay.url, token("p2"), reconnect=False, name="late")
    await late.start()
    await asyncio.sleep(1.0)
    await late.stop()
    assert late.errors and late.errors[0]["code"] == "room_ended"


async def test_keyframe_request_reaches_publisher(relay_factory) -> None:
    """A subscriber's PLI travels through the relay's sender and fanout to the publisher's sender."""
    relay = await relay_factory()
    requests: list[float] = []
    chair = await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    sender = next(s for s in chair.pc.getSenders() if s.track is not None)
    original = sender._send_keyframe

    def counted() -> None:
        requests.append(time.monotonic())
        original()

    sender._send_keyframe = counted
    receivers = []
    await _client(relay_factory, relay, token("p1", pub=False), slots=["chair"],
                  on_receiver=lambda i, k, r: receivers.append(r) if k == "video" else None, name="p1")
    await asyncio.sleep(1.0)
    requests.clear()
    ssrc = receivers[0].getSynchronizationSources()[0].source
    await receivers[0]._send_rtcp_pli(ssrc)
    await asyncio.sleep(0.6)
    assert len(requests) == 1


async def test_nack_is_answered_from_the_relay_history(relay_factory) -> None:
    relay = await relay_factory()
    await _client(relay_factory, relay, token("chair", "chair"), publish=_small(RED), slots=[], name="chair")
    receivers = []
    await _client(relay_factory, relay, token("p1", pub=False), slots=["chair"],
                  on_receiver=lambda i, k, r: receivers.append(r) if k == "video" else None, name="p1")
    await asyncio.sleep(1.0)
    relay_sender = relay.rooms["m-1"].sessions["p1"].pc.getTransceivers()[1].sender
    resent: list[int] = []
    original = relay_sender._retransmit

    async def counted(seq: int) -> None:
        resent.append(seq)
        await original(seq)

    relay_sender._retransmit = counted
    stats = await receivers[0].getStats()
    inbound = next(s for s in stats.values() if s.type == "inbound-rtp")
    ssrc = receivers[0].getSynchronizationSources()[0].source
    last_seq = receivers[0]._RTCRtpReceiver__remote_streams[ssrc].max_seq
    await receivers[0]._send_rtcp_nack(ssrc, [last_seq - 2, last_seq - 1])
    await asyncio.sleep(0.3)
    assert inbound.packetsReceived > 0
    assert resent == [last_seq - 2, last_seq - 1]


class _OpusPackets(MediaStreamTrack):
    """Pre-encoded Opus packets (a 440 Hz tone), 20 ms apart."""

    kind = "audio"

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self.packets, self.count, self.start = packets, 0, None

    async def recv(self) -> av.Packet:
        self.start = self.start or time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.count * 0.02 - time.monotonic()))
        packet = av.Packet(self.packets[self.count % len(self.packets)])
        packet.pts, packet.time_base = self.count * 960, Fraction(1, 48000)
        self.count += 1
        return packet


def _opus_tone(frames: int) -> list[bytes]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    out: list[bytes] = []
    t = np.arange(960 * frames) / 48000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    for i in range(frames):
        chunk = np.repeat(pcm[i * 960:(i + 1) * 960], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * 960
        out.extend(bytes(p) for p in ctx.encode(frame))
    return out


async def test_forwarded_opus_is_the_published_bytes(relay_factory) -> None:
    relay = await relay_factory()
    packets = _opus_tone(100)
    received: list[bytes] = []

    def on_receiver(slot: int, kind: str, receiver) -> None:
        if kind == "audio":
            tap_receiver(receiver, lambda c, data, ts: received.append(data))

    await _client(relay_factory, relay, token("chair", "chair"), publish=lambda: [(_OpusPackets(packets), None)],
                  slots=[], name="chair")
    await _client(relay_factory, relay, token("p1", pub=False), slots=["chair"], on_receiver=on_receiver, name="p1")
    deadline = time.monotonic() + 10
    while len(received) < 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(received) >= 50
    assert set(received) <= set(packets)


async def test_real_video_file_through_the_relay(relay_factory, shared_data) -> None:
    """A real street video, published by aiortc's MediaPlayer, arrives recognisably at a subscriber."""
    from aiortc.contrib.media import MediaPlayer

    path = shared_data / "street_crossing_320p.mp4"
    with av.open(str(path)) as container:
        reference = [_thumb(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    relay = await relay_factory()
    players: list[MediaPlayer] = []

    def publish() -> list:
        player = MediaPlayer(str(path), loop=True)
        players.append(player)
        return [(None, player.video)]

    frames: list[np.ndarray] = []

    def on_track(slot: int, kind: str, track) -> None:
        async def read() -> None:
            while len(frames) < 40:
                frames.append((await track.recv()).to_ndarray(format="rgb24"))
        if kind == "video":
            asyncio.ensure_future(read())

    await _client(relay_factory, relay, token("cam", "chair"), publish=publish, slots=[], name="cam")
    await _client(relay_factory, relay, token("p1", pub=False), slots=["chair"], on_track=on_track, name="p1")
    deadline = time.monotonic() + 20
    while len(frames) < 40 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for player in players:
        if player.video is not None:
            player.video.stop()
    assert len(frames) >= 40
    assert frames[-1].shape[:2] == (320, 576)
    # Each received frame looks like some frame of the file (lossy coding allowed), and the picture moves.
    errors = [min(float(np.abs(_thumb(f) - ref).mean()) for ref in reference) for f in frames[-10:]]
    assert max(errors) < 12, errors
    assert float(np.abs(_thumb(frames[-1]) - _thumb(frames[-30])).mean()) > 0.5


def _thumb(img: np.ndarray) -> np.ndarray:
    """A 36x64 grey thumbnail for comparing frames across lossy coding."""
    grey = img.mean(axis=2)
    h, w = grey.shape
    return grey[: h - h % 36, : w - w % 64].reshape(36, (h - h % 36) // 36, 64, (w - w % 64) // 64).mean(axis=(1, 3))
