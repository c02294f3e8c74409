"""Share a live camera into a meeting: a server-side aiortc endpoint that publishes it.

An operator picks a camera (an edge preview MJPEG stream or an RTSP URL) and the hub
starts a `CameraShare`: FFmpeg (through aiortc's `MediaPlayer`) reads the stream, aiortc
encodes it with the room's codec and sends it to the relay like any participant's
camera, so every tier can put the scene on the spotlight. The share reconnects by
itself when the camera or the relay drops, with a fresh join token each time.

The signalling and the peer connection are the relay's own Python endpoint,
`conferencing.client.RelayClient`; this module adds the camera source, the join-token
refresh and the hub's bookkeeping of running shares.

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
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiortc.contrib.media import MediaPlayer

from contract.backoff import Backoff
from conferencing.client import RelayClient
from conferencing.exceptions import ConferencingError, MediaError, PermissionDenied, RoomEnded, SignallingError

log = logging.getLogger(__name__)

GrantProvider = Callable[[], Awaitable[tuple[str, str]]]
"""Returns ``(relay websocket URL, join token)``; called before every (re)connect.
Raises `RoomEnded` or `PermissionDenied` to end the share for good."""

_SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https")


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
        connect_timeout_s: float = 15.0,
    ) -> None:
        self.source_url = source_url
        self._grant = grant
        self._open = open_source_fn
        self._retry = (retry_min_s, retry_max_s)
        self._connect_timeout_s = connect_timeout_s
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

    @property
    def done(self) -> bool:
        """True once the share has ended (stopped, meeting over, or rights withdrawn)."""
        return self._task is not None and self._task.done()

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            self.status.state = "stopped"

    async def _loop(self) -> None:
        backoff = Backoff(self._retry[0], max(self._retry[0], self._retry[1]))
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self._publish_once()
            except (RoomEnded, PermissionDenied) as exc:
                # Not a failure to retry: the meeting is over or the sharer lost the right.
                self.status.last_error = str(exc)
                log.info("camera share %s ends: %s", self.status.key, exc)
                return
            except (ConferencingError, OSError) as exc:
                self.status.last_error = str(exc)
                log.warning("camera share %s: %s", self.status.key, exc)
            except Exception as exc:  # keep the share alive whatever a library throws
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("camera share %s failed", self.status.key)
            if self._stop.is_set():
                break
            if time.monotonic() - started > 30:
                backoff.reset()  # it ran a while: the next failure is a fresh one
            self.status.state = "retrying"
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff.next())

    async def _publish_once(self) -> None:
        self.status.state = "connecting"
        player = await asyncio.to_thread(self._open, self.source_url)
        client: RelayClient | None = None
        try:
            relay_url, token = await self._grant()
            # reconnect=False: this loop reconnects, so that each attempt re-opens the
            # camera and asks the hub for a fresh token (the rules are checked again).
            client = RelayClient(
                relay_url, token, publish=lambda: [(None, player.video)], slots=[], receive_audio=False,
                reconnect=False, name=f"camera-share-{self.status.key}",
            )
            await client.start()
            try:
                await client.wait_connected(self._connect_timeout_s)
            except asyncio.TimeoutError as exc:
                detail = client.errors[-1].get("message") if client.errors else "no answer"
                raise SignallingError(f"relay {relay_url} did not admit the camera: {detail}") from exc
            self.status.connects += 1
            self.status.state, self.status.since, self.status.last_error = "live", time.time(), None
            await self._wait_until_broken(client, player)
        finally:
            if client is not None:
                await client.stop()
            if player.video is not None:
                player.video.stop()  # stops FFmpeg's reader thread

    async def _wait_until_broken(self, client: RelayClient, player: MediaPlayer) -> None:
        while not self._stop.is_set():
            if client.ended:
                # The chair ended the meeting: nothing left to publish into.
                self._stop.set()
                return
            if not client.connected.is_set():
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
        """Start `share` under `key`; a running share under that key is kept and returned."""
        existing = self._shares.get(key)
        if existing is not None and not existing.done:
            return existing
        self._shares.pop(key, None)  # an ended share makes room for a new one
        if sum(not s.done for s in self._shares.values()) >= self._max:
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
