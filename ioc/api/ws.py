"""`WS /ws/events`: live events with resume.

    /ws/events?token=JWT&since=ID&types=traffic.,security.&cameras=a,b&unit=0101

Protocol: one JSON envelope per text frame, plus `system.heartbeat` every
`IOC_WS_HEARTBEAT_S`, `system.lagged` when this client was too slow and messages were
skipped, `system.acknowledged`, `system.camera_status` and other `system.*` messages.

Resume without gap or duplicate: the client is subscribed to the live fan-out *before*
the database is read, so an event is either in the database read, in the live queue, or
both; both is removed by its receive sequence (`rx_seq`). Ingest commits and publishes
in `rx_seq` order (ioc.services.events), so live messages arrive in that order too.
If the live queue overflows while history is being sent, the dropped messages are all in
the database: the catch-up simply runs again.

Fast path: a live, idle session lets the fan-out write each batch's pre-encoded frames
straight to its socket (`_DirectWriter`, `Subscriber.direct`); see docs/hub.md.

Close codes: 4401 not logged in, 4403 unit outside the caller's scope, 4400 bad query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from psycopg_pool import AsyncConnectionPool
from starlette.websockets import WebSocketState

from ioc.api.deps import token_of, user_from_token
from ioc.api.observability import HubMetrics
from ioc.broker import LiveMessage, Subscriber
from ioc.exceptions import IocError, NotAuthenticated
from ioc.services import events, units
from ioc.services.events import EventFilter
from ioc.services.users import User

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

_HISTORY_PAGE = 500


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()][:50]


class _Session:
    """One websocket client: its filter, its subscription, its position."""

    def __init__(self, ws: WebSocket, user: User, flt: EventFilter, sub: Subscriber) -> None:
        self.ws = ws
        self.user = user
        self.flt = flt
        self.sub = sub

    @property
    def last_rx(self) -> int:
        """The receive sequence of the last event sent to this client."""
        return self.sub.last_rx

    @last_rx.setter
    def last_rx(self, rx: int) -> None:
        self.sub.last_rx = rx

    async def send_history(self, pool: AsyncConnectionPool, after_rx: int) -> None:
        """Send stored events received after `after_rx`, page by page, until caught up."""
        rx = after_rx
        while True:
            async with pool.connection() as conn:
                page = await events.after(conn, self.flt, rx, limit=_HISTORY_PAGE)
            for rx, frame in page:
                await self.ws.send_text(frame)
            if page:
                self.last_rx = rx
            if len(page) < _HISTORY_PAGE:
                return

    async def catch_up(self, pool: AsyncConnectionPool, after_rx: int) -> None:
        self.last_rx = after_rx
        while True:
            self.sub.drain()
            self.sub.take_dropped()
            await self.send_history(pool, self.last_rx)
            if self.sub.dropped == 0:
                return
            # The live queue overflowed while we read history: everything dropped is stored.

    async def live(self, heartbeat_s: float, metrics: HubMetrics) -> None:
        writer = _DirectWriter.find(self.ws)
        try:
            while True:
                if writer is not None and not self.sub.pending:
                    # Idle with nothing queued: the fan-out may write to the socket itself.
                    self.sub.direct = writer.write
                msg = await self.sub.get(timeout=heartbeat_s)
                # From here this task sends, so that frames keep their order.
                self.sub.direct = None
                await self._send_next(msg, writer, metrics)
        finally:
            self.sub.direct = None

    async def _send_next(self, msg: LiveMessage | None, writer: "_DirectWriter | None", metrics: HubMetrics) -> None:
        skipped = self.sub.take_dropped()
        if skipped:
            # Too slow: drop the backlog too (the message in hand is part of it) and
            # tell the client how much it missed; it can resume from its last id.
            skipped += len(self.sub.drain()) + (msg is not None)
            metrics.ws_lagged.inc(skipped)
            await self.ws.send_text(json.dumps({"type": "system.lagged", "skipped": skipped, "ts": _now()}))
            return
        if msg is None:
            await self.ws.send_text(json.dumps({"type": "system.heartbeat", "ts": _now()}))
            return
        # Coalesce: one wake-up of this task sends everything queued by then (an ingest
        # batch is dispatched at once), instead of one wake-up per message.
        batch = [m for m in (msg, *self.sub.drain()) if self.sub.is_new(m)]
        if not batch or (writer is not None and writer.write(b"".join(m.ws_frame for m in batch))):
            return
        for m in batch:
            await self.ws.send_text(m.frame)


class _DirectWriter:
    """Writes pre-encoded frames (`LiveMessage.ws_frame`) straight to a client's socket.

    Sending one frame through ASGI (`ws.send_text`) costs the hub ~12 µs: starlette's and
    uvicorn's send wrappers, websockets' frame serialiser, and one socket write per frame.
    The live path sends the same bytes to every subscriber, so the frame is encoded once
    (ioc.broker.base) and a session's whole backlog goes out in one `transport.write`.

    Only for uvicorn's default websocket implementation (websockets sans-I/O), on an open
    connection without extensions (a negotiated permessage-deflate would expect its own
    framing): anywhere else `find` gives None and the session uses `ws.send_text`. `write`
    refuses (returns False) when the connection is closing or its write buffer is over
    `buffer_limit`; the caller then falls back to `ws.send_text`, which waits for the
    socket to drain, so a slow client still fills its queue and is told it lagged.

    Example::

        writer = _DirectWriter.find(ws)
        if writer is None or not writer.write(message.ws_frame):
            await ws.send_text(message.frame)
    """

    _PROTOCOL = "uvicorn.protocols.websockets.websockets_sansio_impl"

    def __init__(self, protocol: Any, buffer_limit: int = 256 * 1024) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self.buffer_limit = buffer_limit

    @classmethod
    def find(cls, ws: WebSocket) -> "_DirectWriter | None":
        """The writer for `ws`'s connection, or None when it cannot be reached safely."""
        # The ASGI send callable is uvicorn's `protocol.send`, wrapped by starlette's
        # exception handlers; follow the `send` each wrapper closes over.
        send: Any = getattr(ws, "_send", None)
        for _ in range(16):
            owner = getattr(send, "__self__", None)
            if owner is not None:
                return cls(owner) if cls._usable(owner) else None
            code, cells = getattr(send, "__code__", None), getattr(send, "__closure__", None)
            if code is None or not cells or "send" not in code.co_freevars:
                return None
            send = cells[code.co_freevars.index("send")].cell_contents
        return None

    @classmethod
    def _usable(cls, protocol: Any) -> bool:
        if type(protocol).__module__ != cls._PROTOCOL or not getattr(protocol, "handshake_complete", False):
            return False
        conn, transport = getattr(protocol, "conn", None), getattr(protocol, "transport", None)
        return (
            conn is not None and transport is not None and not getattr(conn, "extensions", True)
            and not protocol.close_sent and not protocol.disconnected
        )

    def write(self, data: bytes) -> bool:
        """Write complete frames now; False (nothing written) when the caller must use ASGI."""
        protocol, transport = self._protocol, self._transport
        if (
            protocol.close_sent or protocol.disconnected or transport.is_closing()
            or transport.get_write_buffer_size() > self.buffer_limit
        ):
            return False
        try:
            transport.write(data)
        except (OSError, RuntimeError):  # closed under us: the ASGI path reports the disconnect
            return False
        return True


async def _reader(ws: WebSocket) -> None:
    # Clients have nothing to say; reading is how a disconnect is noticed.
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await ws.receive_text()


@router.websocket("/ws/events")
async def ws_events(ws: WebSocket) -> None:
    app = ws.app
    settings = app.state.settings
    params = ws.query_params
    token = token_of(ws)
    # Accept first so that refusals carry a close code and reason the client can read
    # (a refused handshake is only an HTTP 403 to a browser).
    await ws.accept()
    try:
        async with app.state.pool.connection() as conn:
            if not token:
                raise NotAuthenticated("not logged in")
            user = await user_from_token(conn, settings, token)
            unit = params.get("unit") or None
            if unit is not None and not await units.in_scope(conn, user.unit, unit):
                await ws.close(code=4403, reason=f"unit {unit} is outside your scope")
                return
            since_rx: int | None = None
            since = params.get("since")
            if since:
                try:
                    since_rx = await events.rx_of(conn, uuid.UUID(since))
                except ValueError:
                    await ws.close(code=4400, reason="since must be an event id (UUID)")
                    return
    except NotAuthenticated as exc:
        await ws.close(code=4401, reason=str(exc)[:120])
        return
    types, cameras = _csv(params.get("types")), _csv(params.get("cameras"))
    flt = EventFilter(scope=user.unit, unit=unit, types=types, cameras=cameras)
    sub = app.state.broker.fanout.subscribe(
        user_unit=user.unit, types=tuple(types), cameras=frozenset(cameras), unit=unit, maxsize=settings.ws_queue
    )
    reader = asyncio.create_task(_reader(ws))
    session = _Session(ws, user, flt, sub)
    try:
        if since and since_rx is None:
            await ws.send_text(
                json.dumps({"type": "system.lagged", "skipped": None, "reason": f"unknown event id {since}", "ts": _now()})
            )
        if since_rx is not None:
            await session.catch_up(app.state.pool, since_rx)
        else:
            session.last_rx = 0
        sender = asyncio.create_task(session.live(settings.ws_heartbeat_s, app.state.metrics))
        done, _ = await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is sender and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # client went away mid-send (uvicorn's ClientDisconnected is an OSError)
    except IocError as exc:
        log.warning("websocket of %s ended: %s", user.username, exc)
    finally:
        app.state.broker.fanout.unsubscribe(sub)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        if ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()
