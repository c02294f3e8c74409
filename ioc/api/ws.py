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

Close codes: 4401 not logged in, 4403 unit outside the caller's scope, 4400 bad query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime, timezone

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from psycopg_pool import AsyncConnectionPool
from starlette.websockets import WebSocketState

from ioc.api.deps import token_of, user_from_token
from ioc.api.observability import HubMetrics
from ioc.broker import Subscriber
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
        self.last_rx = 0

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
        while True:
            msg = await self.sub.get(timeout=heartbeat_s)
            skipped = self.sub.take_dropped()
            if skipped:
                # Too slow: drop the backlog too (the message in hand is part of it) and
                # tell the client how much it missed; it can resume from its last id.
                skipped += len(self.sub.drain()) + (msg is not None)
                metrics.ws_lagged.inc(skipped)
                await self.ws.send_text(
                    json.dumps({"type": "system.lagged", "skipped": skipped, "ts": _now()})
                )
                continue
            if msg is None:
                await self.ws.send_text(json.dumps({"type": "system.heartbeat", "ts": _now()}))
                continue
            if msg.rx:
                if msg.rx <= self.last_rx:
                    continue  # already sent from the database
                self.last_rx = msg.rx
            await self.ws.send_text(msg.frame)


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
