"""Security: bad tokens are refused; garbage on the signalling socket never hurts other participants."""

from __future__ import annotations

import asyncio
import json
import random
import time

import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from conferencing.client import RelayClient
from conferencing.config import RelayConfig
from conferencing.pattern import PatternTrack
from conferencing.server import Relay
from tests.conferencing.helpers import RED, SECRET, FrameWatcher, token

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def live_room():
    """A relay with a chair publishing and a viewer decoding the chair's video."""
    relay = Relay(RelayConfig(port=0, join_timeout_s=1.0, max_message_bytes=65536), secret=SECRET)
    await relay.start()
    watcher = FrameWatcher("viewer")
    chair = RelayClient(relay.url, token("chair", "chair"),
                        publish=lambda: [(None, PatternTrack(RED, width=320, height=180, fps=15))], slots=[], name="chair")
    viewer = RelayClient(relay.url, token("v", "viewer", pub=False), slots=["chair"], on_track=watcher.on_track, name="v")
    for client in (chair, viewer):
        await client.start()
        await client.wait_connected(15)
    await watcher.wait_for(0, RED, timeout=10)
    yield relay, watcher
    watcher.stop()
    for client in (chair, viewer):
        await client.stop()
    await relay.stop()


def _claims(**over) -> dict:
    now = int(time.time())
    data = {"iss": "ioc-hub", "aud": "ioc-relay", "room": "m-1", "sub": "intruder", "name": "X", "unit": "26",
            "role": "chair", "pub": True, "iat": now, "exp": now + 60}
    data.update(over)
    return data


async def _join(url: str, message: dict) -> tuple[dict, int | None]:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(message))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as exc:
            return reply, exc.rcvd.code if exc.rcvd else None
        return reply, None


# Built when the test runs, not at collection: a token made at import could expire first.
BAD_JOINS = {
    "no-token": (lambda: {"type": "join"}, "token_missing"),
    "expired": (lambda: {"type": "join", "token": jwt.encode(_claims(iat=int(time.time()) - 400,
                                                                     exp=int(time.time()) - 60), SECRET)},
                "token_expired"),
    "forged": (lambda: {"type": "join", "token": jwt.encode(_claims(), "forged-secret-0123456789abcdef0123")},
               "token_signature"),
    "other-room": (lambda: {"type": "join", "token": jwt.encode(_claims(room="m-2"), SECRET), "room": "m-1"},
                   "token_wrong_room"),
    "wrong-audience": (lambda: {"type": "join", "token": jwt.encode(_claims(aud="ioc-hub"), SECRET)}, "token_claims"),
    "alg-none": (lambda: {"type": "join", "token": "eyJhbGciOiJub25lIn0.e30."}, "token_signature"),
    # Issue 8 item 16: a valid token the hub issued for another unit's relay (every relay
    # shares the secret) opens nothing here.
    "other-relay": (lambda: {"type": "join", "token": jwt.encode(_claims(relay="26734"), SECRET)},
                    "token_wrong_relay"),
    "bad-relay-claim": (lambda: {"type": "join", "token": jwt.encode(_claims(relay="../x"), SECRET)}, "token_claims"),
}


async def test_a_token_naming_this_relay_is_admitted(live_room) -> None:
    relay, _ = live_room
    token_text = jwt.encode(_claims(relay=relay.config.unit, sub="guest", role="viewer", pub=False), SECRET)
    async with websockets.connect(relay.url) as ws:
        await ws.send(json.dumps({"type": "join", "token": token_text}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["type"] == "joined", reply


@pytest.mark.parametrize("case", list(BAD_JOINS))
async def test_bad_tokens_are_refused(live_room, case: str) -> None:
    relay, watcher = live_room
    make, code = BAD_JOINS[case]
    reply, close_code = await _join(relay.url, make())
    assert reply["type"] == "error" and reply["code"] == code
    assert close_code == 4401
    assert "intruder" not in relay.rooms["m-1"].sessions
    await watcher.wait_for(0, RED, timeout=2)


async def test_other_room_token_cannot_reach_this_room(live_room) -> None:
    """A valid token for m-2 opens m-2 only: nothing of m-1 is visible or controllable."""
    relay, watcher = live_room
    async with websockets.connect(relay.url) as ws:
        await ws.send(json.dumps({"type": "join", "token": token("chair2", "chair", room="m-2")}))
        joined = json.loads(await ws.recv())
        assert joined["type"] == "joined" and joined["room"]["id"] == "m-2"
        await ws.send(json.dumps({"type": "spotlight", "participant": "v"}))
        reply = json.loads(await ws.recv())
        while reply["type"] == "state":
            reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and reply["code"] == "unknown_participant"
    assert relay.rooms["m-1"].state()["spotlight"] is None


async def test_join_timeout_closes_silent_socket(live_room) -> None:
    relay, _ = live_room
    async with websockets.connect(relay.url) as ws:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["code"] == "join_timeout"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 4400


def _fuzz_messages(rng: random.Random) -> list[str | bytes]:
    junk: list[str | bytes] = [
        "", "{", "[]", "null", "42", '"join"', "{}", '{"type": 5}', '{"type": "nope"}',
        '{"type": "join", "token": 12}', '{"type": "offer", "sdp": "v=0 garbage here"}',
        '{"type": "offer", "sdp": "' + "a" * 50_000 + '"}',
        '{"type": "subscribe", "slots": ["../../etc"]}', '{"type": "mute", "participant": null}',
        '{"type": "spotlight", "participant": "' + "x" * 500 + '"}', '{"type": "ping", "extra": 1}',
        "[" * 10_000 + "]" * 10_000, '{"a":' * 5000 + "1" + "}" * 5000, "\ufffd\u0000", b"\x00\xff\xfe binary",
        '{"type": "on_behalf", "participant": "v", "message": {"type": "end"}}',
        '{"type": "uplink", "pairs": ["a", "b"]}', '{"type": "roster", "participants": [{"id": "z"}]}',
    ]
    for _ in range(60):
        size = rng.randint(1, 400)
        junk.append(bytes(rng.getrandbits(8) for _ in range(size)).decode("latin-1"))
        junk.append(json.dumps({"type": rng.choice(["join", "offer", "mute", "spotlight", "raise_hand", "x"]),
                                rng.choice(["token", "sdp", "participant", "raised", "slots"]): rng.choice(
                                    [None, 1, -1, 1e308, "", "x" * rng.randint(0, 300), [], {}, True])}))
    return junk


async def _fuzz(url: str, messages: list[str | bytes], join_token: str | None) -> None:
    try:
        async with websockets.connect(url, max_size=2**22) as ws:
            if join_token is not None:
                await ws.send(json.dumps({"type": "join", "token": join_token}))
            for msg in messages:
                await ws.send(msg)
                await asyncio.sleep(0)
            await asyncio.sleep(0.2)
    except ConnectionClosed:
        pass  # the relay may close a socket that keeps sending garbage


async def test_signalling_fuzz_leaves_relay_serving(live_room) -> None:
    relay, watcher = live_room
    rng = random.Random(20261124)
    messages = _fuzz_messages(rng)
    # Unauthenticated sockets, and joined participants and chairs, at the same time; each
    # joined socket sends fewer bad messages than the burst limit, so every one is answered.
    chunks = [messages[i : i + 15] for i in range(0, len(messages), 15)]
    await asyncio.gather(
        _fuzz(relay.url, messages, None),
        *(_fuzz(relay.url, chunk, token(f"f{i}", "chair" if i % 2 else "participant")) for i, chunk in enumerate(chunks)),
    )
    # A message over the size limit closes that socket with 1009 and nothing else.
    async with websockets.connect(relay.url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "join", "token": token("big")}))
        await ws.recv()
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 200_000}))
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 1009
    assert relay.errors > len(messages) * 0.8
    await asyncio.sleep(0.5)
    await watcher.wait_for(0, RED, timeout=2)
    room = relay.rooms["m-1"]
    assert set(room.sessions) == {"chair", "v"}
    assert room.state()["spotlight"] is None and not room.state()["ended"]
    # And newcomers still get in and receive.
    late = FrameWatcher("late")
    client = RelayClient(relay.url, token("late", pub=False), slots=["chair"], on_track=late.on_track, name="late")
    await client.start()
    try:
        await client.wait_connected(10)
        await late.wait_for(0, RED, timeout=10)
    finally:
        late.stop()
        await client.stop()
