"""The link from a child relay to its parent: one participant (role "relay") in the parent's room.

Downstream the link receives two slots, `chair` and `spotlight`, taps their encoded
frames into fanouts and lets the local room serve them to local endpoints. Upstream it
sends `uplink_pairs` pairs of tracks carrying whichever of its members the parent asks
for (`want`: the floor holder, raised hands), tells the parent who it holds (`roster`)
and forwards its members' control actions (`on_behalf`).

When the parent goes away the room keeps running on local control, and the link
rejoins with backoff (`RelayClient` reconnects); each attempt uses `--token` while it
is valid, else mints a fresh relay token from the shared secret.

Example::

    link = ParentLink(relay, room); room.link = link; link.start()
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from conferencing.client import RelayClient
from conferencing.exceptions import CascadeError, TokenError
from conferencing.forwarding import Fanout, SlotTrack, bind_sender, receiver_keyframe_requester, tap_receiver
from conferencing.media import MediaPair, Slot
from conferencing.room import Control, Member
from contract.tokens import issue_join_token, verify_join_token

if TYPE_CHECKING:
    from aiortc import RTCRtpReceiver

    from conferencing.room import Room
    from conferencing.server import Relay

logger = logging.getLogger(__name__)

DOWNLINK = ["chair", "spotlight"]


class ParentLink:
    """Keeps one room of this relay joined to the same room on the parent relay."""

    def __init__(self, relay: Relay, room: Room) -> None:
        self.relay = relay
        self.room = room
        self.connected = False
        self.me: str | None = None
        self.members: list[Member] = []
        self.control: Control | None = None
        self.downlink: list[tuple[str | None, MediaPair]] = []
        self.want: list[str] = []
        self.uplink_slots: list[Slot] = []
        self.connected_at: float | None = None
        self.outages = 0
        self._pending: list[dict[str, Any]] = []
        cfg = relay.config
        self.client = RelayClient(
            cfg.parent_url or "",
            self._token,
            publish=self._uplink_tracks,
            slots=list(DOWNLINK),
            on_receiver=self._tap,
            on_message=self._message,
            on_connected=self._connected,
            on_disconnected=self._disconnected,
            video_codec=cfg.video_codec,
            reconnect_max_s=cfg.reconnect_max_s,
            name=f"link:{cfg.unit}/{room.id}",
        )

    def start(self) -> None:
        asyncio.ensure_future(self.client.start())

    async def stop(self) -> None:
        await self.client.stop()
        self._disconnected()

    # ------------------------------------------------------------------ tokens
    def _token(self) -> str:
        cfg = self.relay.config
        if cfg.parent_token:
            try:
                claims = verify_join_token(cfg.parent_token, room=self.room.id, secret=self.relay.secret)
                if claims.exp - time.time() > 5:
                    return cfg.parent_token
            except TokenError as exc:
                logger.info("configured parent token unusable for room %s (%s); minting one", self.room.id, exc)
        try:
            return issue_join_token(
                room=self.room.id,
                sub=f"relay-{cfg.unit}",
                name=f"Relay {cfg.unit}",
                unit=cfg.unit,
                role="relay",
                pub=True,
                ttl_s=120,
                secret=self.relay.secret,
            )
        except TokenError as exc:
            raise CascadeError(
                f"no valid token for the parent: give --token or set IOC_RELAY_SECRET ({exc})"
            ) from exc

    # ------------------------------------------------------------------ media
    def _uplink_tracks(self) -> list[tuple[SlotTrack, SlotTrack]]:
        for slot in self.uplink_slots:
            slot.stop()
        self.uplink_slots = []
        pairs = []
        for i in range(self.relay.config.uplink_pairs):
            slot = Slot(index=i, selector="uplink", audio=SlotTrack("audio"), video=SlotTrack("video"))
            self.uplink_slots.append(slot)
            pairs.append((slot.audio, slot.video))
        return pairs

    def _tap(self, index: int, kind: str, receiver: RTCRtpReceiver) -> None:
        while len(self.downlink) <= index:
            self.downlink.append((None, MediaPair()))
        fan = Fanout(kind, f"{self.room.id}/parent/{index}/{kind}", receiver_keyframe_requester(receiver))
        tap_receiver(receiver, fan.push, fan.gap)
        setattr(self.downlink[index][1], kind, fan)

    def _bind_uplink_senders(self) -> None:
        pc = self.client.pc
        if pc is None:
            return
        tracks = {id(t): t for s in self.uplink_slots for t in (s.audio, s.video) if t is not None}
        for sender in pc.getSenders():
            track = tracks.get(id(sender.track))
            if track is not None:
                bind_sender(sender, track)

    # ------------------------------------------------------------------ signalling
    def _connected(self) -> None:
        self.connected = True
        self.connected_at = time.time()
        self.me = (self.client.you or {}).get("id")
        self._bind_uplink_senders()
        self._apply_state(self.client.state)
        for entry in self.client.slots:
            i = entry.get("slot")
            if isinstance(i, int) and i < len(self.downlink):
                self.downlink[i] = (entry.get("participant"), self.downlink[i][1])
        for message in self._pending:
            self.send(message)
        self._pending.clear()
        self.room.link_reset()
        logger.info("room %s linked to parent %s", self.room.id, self.client.url)

    def _disconnected(self) -> None:
        if self.connected:
            self.outages += 1
            # Keep the meeting going on what we knew: same floor if it is still reachable here.
            if self.control is not None:
                local = self.room.control
                local.spotlight = self.control.spotlight
                local.hands = list(self.control.hands)
                local.muted = dict(self.control.muted)
        self.connected = False
        for _, pair in self.downlink:
            pair.close()
        self.downlink = []
        self.want = []
        self.control = None
        self.members = []
        self.room.link_reset()

    async def _message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "state":
            self._apply_state(msg.get("room"))
            self.room.changed()
        elif kind in ("slots", "answer"):
            for entry in msg.get("slots", []):
                i = entry.get("slot")
                if isinstance(i, int) and i < len(self.downlink):
                    self.downlink[i] = (entry.get("participant"), self.downlink[i][1])
            self.room.changed()
        elif kind == "want":
            self.want = [w for w in msg.get("participants", []) if isinstance(w, str)]
            self.room.changed()
        elif kind == "ended":
            self.room.end(msg.get("by"))

    def _apply_state(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self.members = [
            Member(p["id"], p["name"], p["unit"], p["role"], p["pub"], p.get("via"), float(i))
            for i, p in enumerate(state.get("participants", []))
        ]
        self.control = Control(
            chair=state.get("chair"),
            spotlight=state.get("spotlight"),
            hands=list(state.get("hands", [])),
            # Who muted whom matters (a participant may undo only its own mute).
            muted={m: str((state.get("muted_by") or {}).get(m, "parent")) for m in state.get("muted", [])},
            ended=bool(state.get("ended")),
        )

    def send(self, message: dict[str, Any]) -> None:
        """Send to the parent (queued until connected)."""
        if not self.connected:
            self._pending.append(message)
            del self._pending[:-50]
            return
        asyncio.ensure_future(self._send(message))

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self.client.send(message)
        except CascadeError as exc:
            logger.info("room %s: parent send failed: %s", self.room.id, exc)

    def forward(self, participant: str, action: dict[str, Any]) -> None:
        """A local member's control action goes to the root through the parent."""
        self.send({"type": "on_behalf", "participant": participant, "message": action})
