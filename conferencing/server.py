"""The relay process: websocket signalling, rooms, peer connections, parent links.

Built on the `websockets` library (asyncio): one small dependency that the hub already
has, a hard per-message size limit, and plain HTTP answers for `/healthz` and `/rooms`
in the same server. aiortc runs in the same event loop.

Example::

    relay = Relay(RelayConfig(unit="26", port=8700))
    await relay.start()
    ...
    await relay.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from conferencing.attendance import AttendanceReporter
from conferencing.config import RelayConfig
from conferencing.exceptions import ConferencingError, MediaError, SignallingError, TokenError
from conferencing.media import answer_offer, new_peer_connection
from conferencing.protocol import (
    End,
    Join,
    Leave,
    Mute,
    Offer,
    OnBehalf,
    Ping,
    RaiseHand,
    Roster,
    Spotlight,
    Subscribe,
    Uplink,
    message_id,
    parse_message,
)
from conferencing.room import Member, Room, Session
from contract.exceptions import TokenWrongRelay
from contract.tokens import verify_join_token

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are for applications).
CLOSE_ENDED = 4000
CLOSE_BAD = 4400
CLOSE_AUTH = 4401
CLOSE_REPLACED = 4409
ERROR_BURST = 20
ERROR_WINDOW_S = 10.0


class Relay:
    """A selective forwarding relay for the meetings of one unit.

    Example::

        relay = Relay(RelayConfig(unit="744", port=8701, parent_url="ws://127.0.0.1:8700/ws"))
        await relay.start(); print(relay.url)
    """

    def __init__(self, config: RelayConfig, *, secret: str | None = None) -> None:
        self.config = config
        self.secret = secret
        self.rooms: dict[str, Room] = {}
        self.ended_rooms: set[str] = set()
        self.links: dict[str, Any] = {}
        self.attendance = AttendanceReporter(config.hub_url, config.hub_token, relay_unit=config.unit, secret=secret)
        self.recorders: dict[str, Any] = {}
        self.started = time.time()
        self.errors = 0
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "relay not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """The signalling URL children and endpoints connect to."""
        return f"ws://{self.config.host}:{self.port}/ws"

    async def start(self) -> None:
        """Listen, and link the configured rooms to the parent."""
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            max_size=self.config.max_message_bytes,
            max_queue=16,
            process_request=self._http,
            # A busy endpoint (or a starved relay) may not answer a ping at once; 20 s
            # without an answer means it is gone.
            ping_interval=10,
            ping_timeout=20,
        )
        await self.attendance.start()
        for room_id in self.config.parent_rooms:
            self.room(room_id)
        logger.info("relay %s listening on %s", self.config.unit, self.url)

    async def stop(self) -> None:
        """Close every link, peer connection and socket."""
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()
        for rec in list(self.recorders.values()):
            await rec.stop()
        for room in list(self.rooms.values()):
            for session in list(room.sessions.values()):
                await session.stop_media()
                await session.close(1001, "relay stopping")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.attendance.stop()

    # ----------------------------------------------------------------- rooms
    def room(self, room_id: str) -> Room:
        """The room `room_id`, opened (and linked upward) on first use."""
        room = self.rooms.get(room_id)
        if room is None:
            room = Room(
                room_id,
                max_participants=self.config.max_participants,
                attendance=self.attendance.report,
                on_ended=self._room_ended,
            )
            self.rooms[room_id] = room
            if self.config.parent_url:
                from conferencing.cascade import ParentLink

                link = ParentLink(self, room)
                self.links[room_id] = link
                room.link = link
                link.start()
            if self.config.record_dir:
                from conferencing.recording import ChairRecorder

                self.recorders[room_id] = ChairRecorder(self, room)
        return room

    def _close_if_idle(self, room_id: str) -> None:
        """Forget a room nobody has used for `idle_room_s` (and stop linking it upward)."""
        room = self.rooms.get(room_id)
        if room is None or not room.empty or room_id in self.config.parent_rooms:
            return
        del self.rooms[room_id]
        link = self.links.pop(room_id, None)
        if link is not None:
            asyncio.ensure_future(link.stop())
        rec = self.recorders.pop(room_id, None)
        if rec is not None:
            asyncio.ensure_future(rec.stop())
        logger.info("room %s closed after %.0f s without endpoints", room_id, self.config.idle_room_s)

    def _room_ended(self, room: Room) -> None:
        self.ended_rooms.add(room.id)
        self.attendance.report_end(room.id, room.control.ended_by)
        link = self.links.pop(room.id, None)
        if link is not None:
            asyncio.ensure_future(link.stop())
        rec = self.recorders.pop(room.id, None)
        if rec is not None:
            asyncio.ensure_future(rec.stop())

    def summary(self) -> dict[str, Any]:
        return {
            "unit": self.config.unit,
            "uptime_s": round(time.time() - self.started, 1),
            "errors": self.errors,
            "rooms": [r.summary() for r in self.rooms.values()],
        }

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None
        if path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/rooms":
            response = connection.respond(HTTPStatus.OK, json.dumps(self.summary()) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        return connection.respond(HTTPStatus.NOT_FOUND, "not found: use /ws, /healthz or /rooms\n")

    # ----------------------------------------------------------------- signalling
    async def _handle(self, ws: ServerConnection) -> None:
        session: Session | None = None
        room: Room | None = None
        try:
            session, room = await self._admit(ws)
            if session is None or room is None:
                return
            await self._serve(ws, session, room)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("signalling handler failed")
        finally:
            if session is not None and room is not None:
                room.remove(session)
                await session.stop_media()
                if room.empty and room.id in self.ended_rooms:
                    self.rooms.pop(room.id, None)
                elif room.empty:
                    asyncio.get_running_loop().call_later(self.config.idle_room_s, self._close_if_idle, room.id)

    async def _admit(self, ws: ServerConnection) -> tuple[Session | None, Room | None]:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.config.join_timeout_s)
        except TimeoutError:
            await _error(ws, SignallingError("no join message within the join timeout", code="join_timeout"))
            await ws.close(CLOSE_BAD, "join timeout")
            return None, None
        try:
            msg = parse_message(raw, max_bytes=self.config.max_message_bytes)
            if not isinstance(msg, Join):
                raise SignallingError("the first message must be a join", code="join_first")
            claims = verify_join_token(msg.token, room=msg.room, secret=self.secret)
            if claims.relay is not None and claims.relay != self.config.unit:
                # The hub names the relay of the meeting it grants; every relay shares the
                # secret, so without this any relay would open any unit's meeting.
                raise TokenWrongRelay(f"join token is for the relay of unit {claims.relay!r}, not this relay"
                                      f" ({self.config.unit!r})")
            if claims.room in self.ended_rooms:
                raise ConferencingError(f"meeting {claims.room} has ended", code="room_ended")
            room = self.room(claims.room)
            session = Session(claims, send=ws.send, close=ws.close)
            old = room.add(session)
        except (ConferencingError, TokenError) as exc:
            self.errors += 1
            await _error(ws, exc, message_id(raw))
            await ws.close(CLOSE_AUTH if isinstance(exc, TokenError) else CLOSE_BAD, exc.code)
            return None, None
        if old is not None:
            old.notify({"type": "error", "code": "replaced", "message": "the same participant joined again elsewhere"})
            await old.close(CLOSE_REPLACED, "replaced")
        room.update_members()
        await ws.send(
            json.dumps(
                {
                    "type": "joined",
                    "id": msg.id,
                    "you": session.member().public() | {"role": claims.role},
                    "room": room.state(),
                    "codecs": {"video": self.config.video_codec, "audio": "opus"},
                    "max_slots": self.config.max_slots,
                }
            )
        )
        session.release()
        return session, room

    async def _serve(self, ws: ServerConnection, session: Session, room: Room) -> None:
        errors: list[float] = []
        async for raw in ws:
            try:
                msg = parse_message(raw, max_bytes=self.config.max_message_bytes)
                if isinstance(msg, Leave):
                    return
                reply = await self._dispatch(msg, session, room)
                if reply is not None:
                    reply["id"] = msg.id
                    await ws.send(json.dumps(reply))
            except (ConferencingError, TokenError) as exc:
                self.errors += 1
                await _error(ws, exc, message_id(raw))
                now = time.monotonic()
                errors = [t for t in errors if now - t < ERROR_WINDOW_S] + [now]
                if len(errors) > ERROR_BURST:
                    await ws.close(CLOSE_BAD, "too many bad messages")
                    return

    async def _dispatch(self, msg: Any, session: Session, room: Room) -> dict[str, Any] | None:
        if isinstance(msg, Ping):
            return {"type": "pong"}
        if isinstance(msg, Join):
            raise SignallingError("already joined", code="already_joined")
        if isinstance(msg, Offer):
            return await self._offer(msg, session, room)
        if isinstance(msg, Subscribe):
            if not session.slots:
                raise SignallingError("no receive slots yet: send an offer first", code="no_slots")
            for slot, selector in zip(session.slots, msg.slots):
                slot.selector = selector
            session.slots_sent = None
            room.route_one(session)
            room.changed()
            return None
        if isinstance(msg, (RaiseHand, Mute, Spotlight, End)):
            if session.is_relay:
                raise SignallingError("a relay acts for its participants with on_behalf", code="forbidden")
            room.act(session.member(), msg)
            return None
        if not session.is_relay:
            raise SignallingError(f"{msg.type!r} is for relays only", code="forbidden")
        if isinstance(msg, Roster):
            session.roster = {
                m.id: Member(m.id, m.name, m.unit, m.role, m.pub, session.id) for m in msg.participants
            }
            room.changed()
            return None
        if isinstance(msg, Uplink):
            session.uplink = list(msg.pairs)
            room.changed()
            return None
        if isinstance(msg, OnBehalf):
            member = session.roster.get(msg.participant)
            if member is None:
                raise SignallingError(f"{msg.participant!r} is not in this relay's roster", code="forbidden")
            room.act(member, msg.message)
            return None
        raise SignallingError(f"unexpected message {msg.type!r}")

    async def _offer(self, msg: Offer, session: Session, room: Room) -> dict[str, Any]:
        if session.pc is not None:
            # A new offer replaces the old media session (e.g. after an ICE failure).
            await session.stop_media()
        pc = new_peer_connection()
        session.pc = pc
        try:
            sdp, negotiated = await answer_offer(
                pc,
                msg.sdp,
                label=f"{room.id}/{session.id}",
                can_publish=session.claims.can_publish,
                selectors=list(msg.slots or []),
                max_slots=self.config.max_slots,
                max_pairs=self.config.uplink_pairs if session.is_relay else 1,
                video_codec=self.config.video_codec,
            )
        except MediaError:
            await pc.close()
            session.pc = None
            raise

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "failed" and session.pc is pc:
                logger.info("media of %s failed; it may send a new offer", session.id)

        session.pairs = negotiated.pairs
        session.slots = negotiated.slots
        room.route_one(session, notify=False)
        room.changed()  # others may now see this endpoint; children may be asked for streams
        message = room.slots_message(session)
        session.slots_sent = json.dumps(message, sort_keys=True)
        return {"type": "answer", "sdp": sdp, "slots": message["slots"]}


async def _error(ws: ServerConnection, exc: ConferencingError | TokenError, msg_id: str | None = None) -> None:
    try:
        await ws.send(json.dumps({"type": "error", "code": exc.code, "message": str(exc), "id": msg_id}))
    except ConnectionClosed:
        pass
