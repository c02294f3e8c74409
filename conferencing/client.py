"""A Python endpoint for the relay: joins, publishes, receives slots, reconnects by itself.

Used by child relays (their link to the parent), by the tests and benchmark (simulated
communes), and by anything that shares a camera into a meeting from Python.

Example::

    client = RelayClient("ws://127.0.0.1:8700/ws", token,
                         publish=lambda: [(None, PatternTrack(colour=(255, 0, 0)))],
                         slots=["spotlight", "chair"],
                         on_track=lambda slot, kind, track: ...)
    await client.start()
    await client.wait_connected(10)
    await client.send({"type": "raise_hand"})
    await client.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from aiortc import RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from contract.backoff import Backoff
from conferencing.exceptions import CascadeError, SignallingError
from conferencing.media import new_peer_connection, prefer_codecs

logger = logging.getLogger(__name__)

PairFactory = Callable[[], list[tuple[MediaStreamTrack | None, MediaStreamTrack | None]]]
ReceiverHook = Callable[[int, str, RTCRtpReceiver], None]
TrackHook = Callable[[int, str, MediaStreamTrack], None]
MessageHook = Callable[[dict[str, Any]], Awaitable[None] | None]


class RelayClient:
    """One endpoint's connection to a relay, kept up until `stop()` or the meeting ends.

    `publish` is called on every (re)connection and returns fresh (audio, video) track
    pairs to send (aiortc stops a sender's track when its connection closes).
    `on_receiver` sees each receive slot's receiver before media flows (to tap encoded
    frames); `on_track` sees each slot's decoded track after the answer.
    """

    def __init__(
        self,
        url: str,
        token: str | Callable[[], str],
        *,
        publish: PairFactory | None = None,
        slots: list[str] | None = None,
        receive_audio: bool = True,
        on_receiver: ReceiverHook | None = None,
        on_track: TrackHook | None = None,
        on_message: MessageHook | None = None,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        video_codec: str = "VP8",
        reconnect: bool = True,
        reconnect_max_s: float = 5.0,
        name: str = "client",
        room: str | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self._publish = publish
        self.selectors = list(slots if slots is not None else ["spotlight", "chair"])
        self.receive_audio = receive_audio
        self._on_receiver = on_receiver
        self._on_track = on_track
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.video_codec = video_codec
        self.reconnect = reconnect
        self.reconnect_max_s = reconnect_max_s
        self.name = name
        self.room = room
        self.you: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.slots: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.ended = False
        self.connects = 0
        self.connected = asyncio.Event()
        self.state_changed = asyncio.Event()
        self.pc: Any = None
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def token(self) -> str:
        return self._token() if callable(self._token) else self._token

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"relay-client-{self.name}")

    async def wait_connected(self, timeout: float) -> None:
        """Wait until joined and answered (media negotiated)."""
        await asyncio.wait_for(self.connected.wait(), timeout)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one signalling message; raises `CascadeError` while disconnected."""
        ws = self._ws
        if ws is None:
            raise CascadeError(f"{self.name}: not connected to {self.url}")
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise CascadeError(f"{self.name}: connection to {self.url} closed") from exc

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            try:
                await self._ws.send(json.dumps({"type": "leave"}))
            except ConnectionClosed:
                pass
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._close_pc()

    async def _run(self) -> None:
        backoff = Backoff(0.25, max(0.25, self.reconnect_max_s))
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError, SignallingError) as exc:
                logger.info("%s: connection to %s lost: %s", self.name, self.url, exc)
            except Exception:
                logger.exception("%s: session failed", self.name)
            finally:
                was_connected = self.connected.is_set()
                self.connected.clear()
                self._ws = None
                await self._close_pc()
                if was_connected and self._on_disconnected is not None:
                    self._on_disconnected()
            if self.ended or not self.reconnect or self._stopping:
                return
            if time.monotonic() - started > 10:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _close_pc(self) -> None:
        pc, self.pc = self.pc, None
        if pc is not None:
            await pc.close()

    async def _session(self) -> None:
        async with websockets.connect(self.url, open_timeout=10, max_size=2**21, ping_interval=10, ping_timeout=20) as ws:
            self._ws = ws
            join: dict[str, Any] = {"type": "join", "token": self.token()}
            if self.room is not None:
                join["room"] = self.room
            await ws.send(json.dumps(join))
            await self._await_joined(ws)
            await self._negotiate(ws)
            async for raw in ws:
                await self._handle(json.loads(raw))

    async def _await_joined(self, ws: Any) -> None:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg.get("type") == "joined":
                self.you = msg["you"]
                self.state = msg["room"]
                return
            if msg.get("type") == "error":
                self.errors.append(msg)
                raise SignallingError(f"join refused: {msg.get('code')}: {msg.get('message')}", code=msg.get("code"))
            await self._handle(msg)

    async def _negotiate(self, ws: Any) -> None:
        pc = new_peer_connection()
        self.pc = pc
        for audio, video in self._publish() if self._publish else []:
            for kind, track in (("audio", audio), ("video", video)):
                if track is not None:
                    t = pc.addTransceiver(track, direction="sendonly")
                    prefer_codecs(t, self.video_codec)
        receivers: list[tuple[int, str, RTCRtpReceiver]] = []
        for i, _ in enumerate(self.selectors):
            kinds = ("audio", "video") if self.receive_audio else ("video",)
            for kind in kinds:
                t = pc.addTransceiver(kind, direction="recvonly")
                prefer_codecs(t, self.video_codec)
                receivers.append((i, kind, t.receiver))
                if self._on_receiver is not None:
                    self._on_receiver(i, kind, t.receiver)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "failed" and self._ws is ws:
                await ws.close()

        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp, "slots": self.selectors}))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if msg.get("type") == "answer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
                self.slots = msg.get("slots", [])
                break
            if msg.get("type") == "error":
                self.errors.append(msg)
                raise SignallingError(f"offer refused: {msg.get('code')}: {msg.get('message')}", code=msg.get("code"))
            await self._handle(msg)
        if self._on_track is not None:
            for i, kind, receiver in receivers:
                if receiver.track is not None:
                    self._on_track(i, kind, receiver.track)
        self.connects += 1
        self.connected.set()
        if self._on_connected is not None:
            self._on_connected()

    async def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "state":
            self.state = msg["room"]
            self.state_changed.set()
        elif kind == "slots":
            self.slots = msg["slots"]
        elif kind == "ended":
            self.ended = True
        elif kind == "error":
            self.errors.append(msg)
            del self.errors[:-100]
            logger.info("%s: relay error %s: %s", self.name, msg.get("code"), msg.get("message"))
        if self._on_message is not None:
            result = self._on_message(msg)
            if asyncio.iscoroutine(result):
                await result
