"""A meeting room on one relay: who is in it, who has the floor, and which stream feeds which slot.

A room sees three kinds of members:

- **local** endpoints connected to this relay (`via` is None);
- members reached **through a child relay** (from the child's `roster`; `via` = the
  child's session id), whose media comes up on the child's uplink pairs when asked for;
- members reached **through the parent** relay (`via` = `PARENT`), whose media comes
  down on the parent link's downlink slots (chair and spotlight).

The control state (chair, floor, hands, mutes, ended) is decided by the root relay: a
linked child forwards its members' actions upward (`on_behalf`) and mirrors the
parent's `state`; a child that has lost its parent decides locally, so its local
meeting goes on.

Every change calls `changed()`, which schedules one `refresh()` on the event loop:
recompute members and chair, re-point every slot, tell child relays what to send up
(`want`), tell the parent what we hold (`roster`, `uplink`), and send `state`/`slots`
to whoever's view changed. Re-pointing slots is cheap (no SDP), so a floor change
reaches every tier in a few message hops plus one key frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from conferencing.exceptions import PermissionDenied, RoomEnded, RoomFull, SignallingError
from conferencing.media import MediaPair, Slot
from conferencing.protocol import End, Mute, RaiseHand, Spotlight
from contract.tokens import JoinClaims

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

logger = logging.getLogger(__name__)

PARENT = "@parent"


@dataclass
class Member:
    """A participant as the room knows it."""

    id: str
    name: str
    unit: str
    role: str
    pub: bool
    via: str | None = None
    joined: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "unit": self.unit, "role": self.role, "pub": self.pub, "via": self.via}


@dataclass
class Control:
    """Who chairs, who has the floor, raised hands, mutes, and whether it is over."""

    chair: str | None = None
    spotlight: str | None = None
    hands: list[str] = field(default_factory=list)
    muted: dict[str, str] = field(default_factory=dict)
    ended: bool = False
    ended_by: str | None = None

    @property
    def floor(self) -> str | None:
        """Who the `spotlight` selector shows: the floor holder, else the chair."""
        return self.spotlight or self.chair


class Session:
    """One websocket endpoint of this relay (a person's endpoint or a child relay).

    Example::

        session = Session(claims, send=ws_send_json, close=ws_close)
        room.add(session)
    """

    def __init__(
        self,
        claims: JoinClaims,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.claims = claims
        self.id = claims.sub
        self.is_relay = claims.role == "relay"
        self.pc: RTCPeerConnection | None = None
        self.pairs: list[MediaPair] = []
        self.slots: list[Slot] = []
        self.roster: dict[str, Member] = {}
        self.uplink: list[str | None] = []
        self.want_sent: list[str] | None = None
        self.slots_sent: str | None = None
        self.joined = time.time()
        self._send = send
        self._close = close
        # Messages wait until the relay has sent `joined`, so that always comes first.
        self._held: list[dict[str, Any]] | None = []

    def member(self) -> Member:
        c = self.claims
        return Member(c.sub, c.name, c.unit, c.role, c.can_publish, None, self.joined)

    def notify(self, message: dict[str, Any] | str) -> None:
        """Queue a message (a dict, or JSON text shared by a broadcast) to this endpoint.

        A dead socket is the reader's problem, not ours.
        """
        if self._held is not None:
            self._held.append(message)
            return
        asyncio.ensure_future(self._safe_send(message if isinstance(message, str) else json.dumps(message)))

    def release(self) -> None:
        """`joined` has been sent: deliver what was held, in order, and stop holding."""
        held, self._held = self._held or [], None
        for message in held:
            self.notify(message)

    async def _safe_send(self, message: str) -> None:
        try:
            await self._send(message)
        except Exception as exc:  # closed sockets raise various ConnectionClosed errors
            logger.debug("send to %s failed: %s", self.id, exc)

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._close(code, reason)
        except Exception as exc:
            logger.debug("close of %s failed: %s", self.id, exc)

    async def stop_media(self) -> None:
        for slot in self.slots:
            slot.stop()
        for pair in self.pairs:
            pair.close()
        if self.pc is not None:
            await self.pc.close()
        self.pc = None
        self.slots, self.pairs = [], []


class ParentView(Protocol):
    """What a room needs from its link to the parent relay (conferencing.cascade.ParentLink)."""

    connected: bool
    me: str | None
    members: list[Member]
    control: Control | None
    downlink: list[tuple[str | None, MediaPair]]
    want: list[str]
    uplink_slots: list[Slot]

    def forward(self, participant: str, action: dict[str, Any]) -> None: ...
    def send(self, message: dict[str, Any]) -> None: ...


AttendanceHook = Callable[[str, Member, str], None]


class Room:
    """Members, control and media routing of one meeting on this relay.

    Example::

        room = Room("m-42", max_participants=300)
        room.add(session)          # after verifying its join token
        room.act(session.member(), Spotlight(type="spotlight", participant="u-7"))
    """

    REFRESH_INTERVAL_S = 0.05

    def __init__(
        self,
        room_id: str,
        *,
        max_participants: int = 300,
        attendance: AttendanceHook | None = None,
        on_ended: Callable[[Room], None] | None = None,
    ) -> None:
        self.id = room_id
        self.sessions: dict[str, Session] = {}
        self.control = Control()
        self.link: ParentView | None = None
        self.max_participants = max_participants
        self.members: dict[str, Member] = {}
        self._attendance = attendance
        self._on_ended = on_ended
        self._scheduled = False
        self._state_sent: str | None = None
        self._roster_sent: str | None = None
        self._uplink_sent: str | None = None
        self.created = time.time()
        self.refreshes = 0
        # Slots that belong to no endpoint (the recorder): routed like a viewer's.
        self.extra_slots: list[Slot] = []
        self._last_refresh = 0.0

    # ----------------------------------------------------------------- membership
    def add(self, session: Session) -> Session | None:
        """Admit `session`; returns an older session of the same participant, now replaced."""
        if self.effective().ended:
            raise RoomEnded(f"meeting {self.id} has ended")
        old = self.sessions.get(session.id)
        if old is None and len(self.sessions) >= self.max_participants:
            raise RoomFull(f"meeting {self.id} already holds {self.max_participants} endpoints on this relay")
        self.sessions[session.id] = session
        if not session.is_relay and old is None and self._attendance is not None:
            self._attendance(self.id, session.member(), "join")
        self.changed()
        return old

    def remove(self, session: Session) -> None:
        """Forget `session` if it is still the current one for its participant."""
        if self.sessions.get(session.id) is not session:
            return
        del self.sessions[session.id]
        if not session.is_relay and self._attendance is not None:
            self._attendance(self.id, session.member(), "leave")
        self.changed()

    @property
    def empty(self) -> bool:
        return not self.sessions

    # ----------------------------------------------------------------- control
    def effective(self) -> Control:
        """The parent's control while linked, else ours."""
        link = self.link
        if link is not None and link.connected and link.control is not None:
            return link.control
        return self.control

    def act(self, actor: Member, action: RaiseHand | Mute | Spotlight | End) -> None:
        """Apply a control action of `actor`, or forward it to the parent while linked."""
        _check_allowed(actor, action, self.effective())
        link = self.link
        if link is not None and link.connected:
            link.forward(actor.id, action.model_dump(exclude={"id"}))
            return
        ctl = self.control
        if isinstance(action, RaiseHand):
            if action.raised and actor.id not in ctl.hands and actor.id != ctl.spotlight:
                ctl.hands.append(actor.id)
            elif not action.raised and actor.id in ctl.hands:
                ctl.hands.remove(actor.id)
        elif isinstance(action, Mute):
            if action.participant not in self.members:
                raise SignallingError(f"no participant {action.participant!r} in this meeting", code="unknown_participant")
            if action.muted:
                ctl.muted[action.participant] = actor.id
            else:
                ctl.muted.pop(action.participant, None)
            target = self.sessions.get(action.participant)
            if target is not None:
                target.notify({"type": "muted", "muted": action.muted, "by": actor.id})
        elif isinstance(action, Spotlight):
            if action.participant is not None and action.participant not in self.members:
                raise SignallingError(f"no participant {action.participant!r} in this meeting", code="unknown_participant")
            ctl.spotlight = action.participant
            if action.participant in ctl.hands:
                ctl.hands.remove(action.participant)
        elif isinstance(action, End):
            self.end(actor.id)
            return
        self.changed()

    def end(self, by: str | None) -> None:
        """End the meeting here: tell every endpoint and child relay, then close them."""
        self.control.ended, self.control.ended_by = True, by
        for session in list(self.sessions.values()):
            session.notify({"type": "ended", "by": by})
            asyncio.ensure_future(_close_later(session))
        if self._on_ended is not None:
            self._on_ended(self)

    # ----------------------------------------------------------------- routing
    def changed(self) -> None:
        """Schedule one refresh: at once, but at most every `REFRESH_INTERVAL_S`.

        A join storm (a hundred endpoints in a few seconds, each changing the member
        list) then costs twenty refreshes a second, not one per change: every refresh
        routes every slot and sends the state to every endpoint, so unthrottled it is
        quadratic in the room size.
        """
        if self._scheduled:
            return
        self._scheduled = True
        wait = self._last_refresh + self.REFRESH_INTERVAL_S - time.monotonic()
        loop = asyncio.get_event_loop()
        if wait > 0:
            loop.call_later(wait, self._run_refresh)
        else:
            loop.call_soon(self._run_refresh)

    def _run_refresh(self) -> None:
        self._scheduled = False
        self._last_refresh = time.monotonic()
        try:
            self.refresh()
        except Exception:
            logger.exception("room %s refresh failed", self.id)

    def update_members(self) -> None:
        """Recompute members and chair only (what a `joined` reply needs)."""
        self.members = self._collect_members()
        self._fix_control()

    def route_one(self, session: Session, *, notify: bool = True) -> None:
        """Point one endpoint's slots now (with notify=False when the answer says what they show)."""
        self.update_members()
        self._route_session(session, self.effective(), notify=notify)

    def refresh(self) -> None:
        """Recompute members and chair, re-point slots, and send what changed."""
        self.refreshes += 1
        self.update_members()
        ctl = self.effective()
        self._apply_mutes(ctl)
        for session in list(self.sessions.values()):
            self._route_session(session, ctl)
        for slot in self.extra_slots:
            slot.target = self.target(slot.selector, None, ctl)
            slot.bind(self.source(slot.target))
        for session in self.sessions.values():
            if session.is_relay:
                self._send_want(session, ctl)
        self._sync_parent()
        self._broadcast_state(ctl)

    def _collect_members(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        link = self.link
        children = [s for s in self.sessions.values() if s.is_relay]
        if link is not None and link.connected:
            for m in link.members:
                # Our own subtree is described better by what we hold locally.
                if m.via is not None and m.via == link.me:
                    continue
                members[m.id] = replace(m, via=PARENT)
        for child in children:
            for m in child.roster.values():
                members[m.id] = replace(m, via=child.id)
        for session in self.sessions.values():
            if not session.is_relay:
                members[session.id] = session.member()
        return members

    def _fix_control(self) -> None:
        ctl = self.control
        if ctl.chair not in self.members:
            chairs = sorted((m for m in self.members.values() if m.role == "chair"), key=lambda m: m.joined)
            ctl.chair = chairs[0].id if chairs else None
        if ctl.spotlight is not None and ctl.spotlight not in self.members:
            ctl.spotlight = None
        ctl.hands = [h for h in ctl.hands if h in self.members]
        ctl.muted = {k: v for k, v in ctl.muted.items() if k in self.members}

    def _apply_mutes(self, ctl: Control) -> None:
        # Whoever holds a participant's audio drops it while muted; the root's decision
        # is mirrored everywhere, so each tier enforces it on what it forwards.
        for session in self.sessions.values():
            for k, pair in enumerate(session.pairs):
                who = session.uplink[k] if session.is_relay and k < len(session.uplink) else session.id
                if pair.audio is not None:
                    pair.audio.enabled = who not in ctl.muted

    def target(self, selector: str, viewer: Session | None, ctl: Control) -> str | None:
        """The member a selector shows to `viewer` now (None: nobody)."""
        if selector == "chair":
            who = ctl.chair
        elif selector == "spotlight":
            who = ctl.floor
        elif selector.startswith("participant:"):
            who = selector.split(":", 1)[1]
        else:
            n = int(selector.split(":", 1)[1])
            hidden = {ctl.chair, ctl.floor, viewer.id if viewer else None}
            order = sorted(
                (m for m in self.members.values() if m.pub and m.role != "viewer" and m.id not in hidden),
                key=lambda m: (m.id not in ctl.hands, ctl.hands.index(m.id) if m.id in ctl.hands else 0, m.joined),
            )
            who = order[n].id if n < len(order) else None
        if who is None or who not in self.members:
            return None
        if viewer is not None and (who == viewer.id or (viewer.is_relay and self.members[who].via == viewer.id)):
            return None
        return who

    def source(self, who: str | None, *, upstream_ok: bool = True) -> MediaPair | None:
        """Where `who`'s media can be taken from on this relay, if anywhere."""
        if who is None:
            return None
        member = self.members.get(who)
        if member is None:
            return None
        if member.via is None:
            session = self.sessions.get(who)
            return session.pairs[0] if session is not None and session.pairs else None
        if member.via == PARENT:
            link = self.link
            if not upstream_ok or link is None or not link.connected:
                return None
            for target, pair in link.downlink:
                if target == who:
                    return pair
            return None
        child = self.sessions.get(member.via)
        if child is None or who not in child.uplink:
            return None
        k = child.uplink.index(who)
        return child.pairs[k] if k < len(child.pairs) else None

    def _route_session(self, session: Session, ctl: Control, *, notify: bool = True) -> None:
        shown_audio: set[str] = set()
        for slot in session.slots:
            who = self.target(slot.selector, session, ctl)
            slot.target = who
            pair = self.source(who)
            # A person shown in two slots (chair with nobody on the floor) is heard once.
            if slot.video is not None:
                slot.video.bind(pair.video if pair else None)
            if slot.audio is not None:
                audio = pair.audio if pair is not None and who not in shown_audio else None
                slot.audio.bind(audio)
            if who is not None:
                shown_audio.add(who)
        if session.slots and notify:
            self._send_slots(session)

    def slots_message(self, session: Session) -> dict[str, Any]:
        out = []
        for slot in session.slots:
            m = self.members.get(slot.target) if slot.target else None
            out.append(
                {
                    "slot": slot.index,
                    "selector": slot.selector,
                    "participant": slot.target,
                    "name": m.name if m else None,
                    "unit": m.unit if m else None,
                    "mids": dict(slot.mids),
                }
            )
        return {"type": "slots", "slots": out}

    def _send_slots(self, session: Session) -> None:
        message = self.slots_message(session)
        text = json.dumps(message, sort_keys=True)
        if text != session.slots_sent:
            session.slots_sent = text
            session.notify(message)

    def _needed(self, ctl: Control) -> list[str]:
        """Members whose media someone here (or above) wants, most important first."""
        order: list[str] = []
        for who in [ctl.floor, ctl.chair, *ctl.hands]:
            if who is not None:
                order.append(who)
        link = self.link
        if link is not None and link.connected:
            order.extend(link.want)
        for session in self.sessions.values():
            order.extend(s.target for s in session.slots if s.target is not None)
        order.extend(s.target for s in self.extra_slots if s.target is not None)
        seen: set[str] = set()
        return [w for w in order if not (w in seen or seen.add(w))]  # type: ignore[func-returns-value]

    def _send_want(self, child: Session, ctl: Control) -> None:
        needed = [w for w in self._needed(ctl) if self.members.get(w) and self.members[w].via == child.id]
        want = needed[: len(child.pairs)] if child.pairs else needed[:1]
        if want != child.want_sent:
            child.want_sent = want
            child.notify({"type": "want", "participants": want})

    def _sync_parent(self) -> None:
        link = self.link
        if link is None or not link.connected:
            return
        roster = [m.public() for m in self.members.values() if m.via != PARENT]
        text = json.dumps(roster, sort_keys=True)
        if text != self._roster_sent:
            self._roster_sent = text
            for entry in roster:
                entry.pop("via")
            link.send({"type": "roster", "participants": roster})
        # Fill the uplink pairs with what the parent wants, keeping streams in place.
        slots = link.uplink_slots
        current = [s.target for s in slots]
        wanted = [w for w in link.want if w in self.members and self.members[w].via != PARENT][: len(slots)]
        for i, who in enumerate(current):
            if who not in wanted:
                current[i] = None
        for who in wanted:
            if who not in current and None in current:
                current[current.index(None)] = who
        for slot, who in zip(slots, current):
            slot.target = who
            slot.bind(self.source(who, upstream_ok=False))
        text = json.dumps(current)
        if text != self._uplink_sent:
            self._uplink_sent = text
            link.send({"type": "uplink", "pairs": current})

    def link_reset(self) -> None:
        """The parent link (re)connected or dropped: resend roster and uplink map."""
        self._roster_sent = None
        self._uplink_sent = None
        self._state_sent = None
        self.changed()

    def state(self, ctl: Control | None = None) -> dict[str, Any]:
        ctl = ctl or self.effective()
        return {
            "id": self.id,
            "chair": ctl.chair,
            "spotlight": ctl.spotlight,
            "hands": list(ctl.hands),
            "muted": sorted(ctl.muted),
            "muted_by": dict(sorted(ctl.muted.items())),
            "participants": [m.public() for m in sorted(self.members.values(), key=lambda m: m.joined)],
            "ended": ctl.ended,
        }

    def _broadcast_state(self, ctl: Control) -> None:
        state = self.state(ctl)
        text = json.dumps(state, sort_keys=True)
        if text == self._state_sent:
            return
        self._state_sent = text
        message = json.dumps({"type": "state", "room": state})  # serialised once for everyone
        for session in self.sessions.values():
            session.notify(message)

    def summary(self) -> dict[str, Any]:
        """Counters for /rooms and the benchmark."""
        fanouts = [f for s in self.sessions.values() for p in s.pairs for f in (p.audio, p.video) if f is not None]
        return {
            "id": self.id,
            "endpoints": len(self.sessions),
            "members": len(self.members),
            "linked": bool(self.link and self.link.connected),
            "state": self.state(),
            "frames_in": sum(f.frames for f in fanouts),
            "slots": sum(len(s.slots) for s in self.sessions.values()),
            "forwarded": sum(
                t.forwarded for s in self.sessions.values() for sl in s.slots for t in (sl.audio, sl.video) if t is not None
            ),
        }


def _check_allowed(actor: Member, action: Any, ctl: Control) -> None:
    role = actor.role
    if isinstance(action, RaiseHand):
        if role not in ("chair", "participant"):
            raise PermissionDenied(f"a {role} cannot raise a hand")
    elif isinstance(action, Mute):
        if role != "chair":
            if action.participant != actor.id:
                raise PermissionDenied("only the chair mutes other participants")
            if not action.muted and ctl.muted.get(actor.id, actor.id) != actor.id:
                raise PermissionDenied("the chair muted you: only the chair can unmute you")
    elif isinstance(action, (Spotlight, End)):
        if role != "chair":
            raise PermissionDenied(f"only the chair can {action.type}")


async def _close_later(session: Session) -> None:
    await asyncio.sleep(0.2)  # let the `ended` message leave first
    await session.close(4000, "meeting ended")
