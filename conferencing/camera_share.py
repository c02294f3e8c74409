"""Share a live camera into a meeting: a server-side aiortc endpoint that publishes it.

An operator picks a camera (an edge preview MJPEG stream or an RTSP URL) and the hub
starts a `CameraShare`: FFmpeg (through aiortc's `MediaPlayer`) reads the stream, aiortc
encodes it with the room's codec and sends it to the relay like any participant's
camera, so every tier can put the scene on the spotlight. The share reconnects by
itself when the camera or the relay drops, with a fresh join token each time.

`RelaySession` is the endpoint side of the relay's signalling protocol
(docs/conferencing.md): join, one offer with send tracks and receive slots, answer,
then room messages. The camera share uses it to publish; tests use it to receive.

Example::

    async def grant() -> tuple[str, str]:
        return "ws://127.0.0.1:8700/ws", issue_join_token(room=..., role="participant", pub=True, ...)

    share = CameraShare("rtsp://10.0.0.9/cam1", grant, label="Ngã tư 01")
    share.start()
    ...
    await share.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from conferencing.exceptions import ConferencingError, MediaError, SignallingError

log = logging.getLogger(__name__)

GrantProvider = Callable[[], Awaitable[tuple[str, str]]]
"""Returns ``(relay websocket URL, join token)``; called before every (re)connect."""

_SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https")


class RelaySession:
    """One endpoint in a relay room: signalling websocket plus one aiortc peer connection.

    Example::

        session = RelaySession("ws://127.0.0.1:8700/ws", token, publish=[player.video], slots=["spotlight"])
        joined = await session.start()
        video = session.slot_track(0, "video")   # MediaStreamTrack fed by the relay
        frame = await video.recv()
        await session.close()
    """

    def __init__(
        self,
        relay_url: str,
        token: str,
        *,
        publish: Sequence[MediaStreamTrack] = (),
        slots: Sequence[str] = (),
        timeout_s: float = 15.0,
    ) -> None:
        self.relay_url = relay_url
        self._token = token
        self._publish = list(publish)
        self._slot_selectors = list(slots)
        self._timeout_s = timeout_s
        self.pc: RTCPeerConnection | None = None
        self.you: dict[str, Any] | None = None
        self.room: dict[str, Any] | None = None
        self.slots: list[dict[str, Any]] = []
        self.ended = False
        self.closed = asyncio.Event()
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def start(self) -> dict[str, Any]:
        """Join the room and set up media; returns the relay's `joined` message."""
        try:
            self._ws = await asyncio.wait_for(connect(self.relay_url, max_size=2**20), self._timeout_s)
        except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
            raise SignallingError(f"cannot reach relay {self.relay_url}: {exc}", code="relay_unreachable") from exc
        self._reader = asyncio.create_task(self._read(), name="relay-session-reader")
        joined = await self.request({"type": "join", "token": self._token}, "joined")
        self.you, self.room = joined.get("you"), joined.get("room")
        self.pc = RTCPeerConnection()
        self.pc.on("connectionstatechange", self._on_pc_state)
        for track in self._publish:
            self.pc.addTransceiver(track, direction="sendonly")
        for _ in self._slot_selectors:
            self.pc.addTransceiver("video", direction="recvonly")
            self.pc.addTransceiver("audio", direction="recvonly")
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)  # aiortc gathers all candidates here
        answer = await self.request(
            {"type": "offer", "sdp": self.pc.localDescription.sdp, "slots": self._slot_selectors}, "answer"
        )
        self.slots = list(answer.get("slots") or [])
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        return joined

    async def request(self, message: dict[str, Any], reply_type: str) -> dict[str, Any]:
        """Send `message` and wait for the relay's `reply_type` (or its error)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._waiters[reply_type] = waiter
        await self.send(message)
        try:
            reply = await asyncio.wait_for(waiter, self._timeout_s)
        except asyncio.TimeoutError as exc:
            raise SignallingError(f"relay sent no {reply_type!r} within {self._timeout_s} s") from exc
        finally:
            self._waiters.pop(reply_type, None)
        return reply

    async def send(self, message: dict[str, Any]) -> None:
        """Send one signalling message."""
        if self._ws is None:
            raise SignallingError("not connected")
        try:
            await self._ws.send(json.dumps(message))
        except WebSocketException as exc:
            raise SignallingError(f"relay connection lost: {exc}") from exc

    def slot_track(self, slot: int, kind: str) -> MediaStreamTrack:
        """The receiving track of slot `slot` (`kind` "video" or "audio")."""
        if self.pc is None or slot >= len(self.slots):
            raise MediaError(f"no slot {slot}")
        mid = (self.slots[slot].get("mids") or {}).get(kind)
        for transceiver in self.pc.getTransceivers():
            if mid is not None and transceiver.mid == mid:
                return transceiver.receiver.track
        raise MediaError(f"slot {slot} has no {kind} m-line (mid {mid!r})")

    async def close(self) -> None:
        """Leave the room and close the peer connection and the socket."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send(json.dumps({"type": "leave"}))
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self.pc is not None:
            await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self.closed.set()

    async def _on_pc_state(self) -> None:
        if self.pc is not None and self.pc.connectionState in ("failed", "closed"):
            self.closed.set()

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                try:
                    message = json.loads(raw)
                except (TypeError, ValueError):
                    log.warning("relay sent a non-JSON frame; ignored")
                    continue
                if not isinstance(message, dict):
                    continue
                self._dispatch(message)
        except WebSocketException as exc:
            log.info("relay socket closed: %s", exc)
        finally:
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(SignallingError("relay closed the connection"))
            self.closed.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "error":
            # An error answers the pending request, if any; otherwise it is only logged.
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(
                        ConferencingError(str(message.get("message")), code=str(message.get("code", "error")))
                    )
            log.warning("relay error %s: %s", message.get("code"), message.get("message"))
        elif kind == "state":
            self.room = message.get("room")
        elif kind == "slots":
            self.slots = list(message.get("slots") or [])
        elif kind == "ended":
            self.ended = True
        waiter = self._waiters.get(str(kind))
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        with contextlib.suppress(asyncio.QueueFull):
            self.messages.put_nowait(message)


def open_source(url: str, *, open_timeout_s: float = 10.0) -> MediaPlayer:
    """Open a live camera with FFmpeg: RTSP (over TCP) or an HTTP MJPEG stream.

    Blocking (FFmpeg probes the stream); call it in a worker thread.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SOURCE_SCHEMES or not parts.netloc:
        raise MediaError(f"camera URL must be rtsp://, http:// or https:// with a host, got {url!r}")
    micros = str(int(open_timeout_s * 1_000_000))
    if parts.scheme.startswith("rtsp"):
        options = {"rtsp_transport": "tcp", "timeout": micros}
        fmt = None
    else:
        # An edge preview is multipart/x-mixed-replace JPEG: FFmpeg's "mpjpeg" demuxer.
        options = {"timeout": micros}
        fmt = "mpjpeg"
    try:
        player = MediaPlayer(url, format=fmt, options=options)
    except Exception as exc:  # PyAV raises a family of FFmpeg errors and OSError
        raise MediaError(f"cannot open camera stream: {exc}") from exc
    if player.video is None:
        raise MediaError("camera stream has no video")
    return player


@dataclass(slots=True)
class ShareStatus:
    """What the API shows about a running share."""

    key: str
    label: str
    state: str  # "connecting" | "live" | "retrying" | "stopped"
    since: float
    connects: int
    last_error: str | None


class CameraShare:
    """Publishes one camera into one meeting until stopped, reconnecting on failures.

    Example::

        share = CameraShare("http://edge:8090/cam-01.mjpg", grant, label="Camera cổng UBND")
        share.start()
        await share.stop()
    """

    def __init__(
        self,
        source_url: str,
        grant: GrantProvider,
        *,
        label: str,
        key: str = "",
        retry_min_s: float = 1.0,
        retry_max_s: float = 15.0,
        open_source_fn: Callable[[str], MediaPlayer] = open_source,
    ) -> None:
        self.source_url = source_url
        self._grant = grant
        self._open = open_source_fn
        self._retry = (retry_min_s, retry_max_s)
        self.status = ShareStatus(key=key or label, label=label, state="connecting", since=time.time(), connects=0,
                                  last_error=None)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start publishing in the background (on the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"camera-share-{self.status.key}")

    async def stop(self) -> None:
        """Stop publishing and release the camera stream and the relay connection."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.status.state = "stopped"

    async def _run(self) -> None:
        delay = self._retry[0]
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self._publish_once()
            except (ConferencingError, OSError) as exc:
                self.status.last_error = str(exc)
                log.warning("camera share %s: %s", self.status.key, exc)
            except Exception as exc:  # keep the share alive whatever a library throws
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("camera share %s failed", self.status.key)
            if self._stop.is_set():
                break
            if time.monotonic() - started > 30:
                delay = self._retry[0]  # it ran a while: the next failure is a fresh one
            self.status.state = "retrying"
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, self._retry[1])

    async def _publish_once(self) -> None:
        self.status.state = "connecting"
        player = await asyncio.to_thread(self._open, self.source_url)
        session: RelaySession | None = None
        try:
            relay_url, token = await self._grant()
            session = RelaySession(relay_url, token, publish=[player.video])
            await session.start()
            self.status.connects += 1
            self.status.state, self.status.since, self.status.last_error = "live", time.time(), None
            await self._wait_until_broken(session, player)
        finally:
            if session is not None:
                await session.close()
            if player.video is not None:
                player.video.stop()  # stops FFmpeg's reader thread

    async def _wait_until_broken(self, session: RelaySession, player: MediaPlayer) -> None:
        while not self._stop.is_set():
            if session.ended:
                # The chair ended the meeting: nothing left to publish into.
                self._stop.set()
                return
            if session.closed.is_set():
                raise SignallingError("relay connection lost")
            if player.video is None or player.video.readyState != "live":
                raise MediaError("camera stream ended")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)


class CameraShareManager:
    """The hub's running camera shares, by key (meeting id and camera).

    Example::

        shares = CameraShareManager()
        shares.start("m1:cam-01", CameraShare(url, grant, label="Ngã tư 01"))
        await shares.stop_all()
    """

    def __init__(self, max_shares: int = 32) -> None:
        self._shares: dict[str, CameraShare] = {}
        self._max = max_shares

    def start(self, key: str, share: CameraShare) -> CameraShare:
        """Start `share` under `key`; an existing share under that key is kept and returned."""
        if key in self._shares:
            return self._shares[key]
        if len(self._shares) >= self._max:
            raise MediaError(f"at most {self._max} camera shares may run at once")
        share.status.key = key
        self._shares[key] = share
        share.start()
        return share

    def get(self, key: str) -> CameraShare | None:
        """The share under `key`, if running."""
        return self._shares.get(key)

    def list(self, prefix: str = "") -> list[ShareStatus]:
        """Statuses of the shares whose key starts with `prefix`."""
        return [s.status for k, s in sorted(self._shares.items()) if k.startswith(prefix)]

    async def stop(self, key: str) -> bool:
        """Stop one share; False when none ran under `key`."""
        share = self._shares.pop(key, None)
        if share is None:
            return False
        await share.stop()
        return True

    async def stop_all(self) -> None:
        """Stop every share (hub shutdown)."""
        keys = list(self._shares)
        await asyncio.gather(*(self.stop(k) for k in keys), return_exceptions=True)
