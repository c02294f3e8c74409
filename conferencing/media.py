"""Peer connections of the relay and its clients: SDP in, taps and slots wired, SDP out.

aiortc gathers every ICE candidate before `setLocalDescription` returns, so one offer
and one answer carry everything; no trickle messages are needed. Both sides use
max-bundle (one ICE/DTLS transport per endpoint, whatever the number of m-lines) and no
STUN server (aiortc's default is a public one, unreachable on a closed network).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcconfiguration import RTCBundlePolicy

from conferencing.exceptions import MediaError
from conferencing.forwarding import Fanout, SlotTrack, bind_sender, receiver_keyframe_requester, tap_receiver


def new_peer_connection() -> RTCPeerConnection:
    """An aiortc peer connection for a closed network: max-bundle, no STUN."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


@dataclass
class MediaPair:
    """The audio and video fanouts of one published stream (either may be missing)."""

    audio: Fanout | None = None
    video: Fanout | None = None

    def get(self, kind: str) -> Fanout | None:
        return self.audio if kind == "audio" else self.video

    def close(self) -> None:
        for fan in (self.audio, self.video):
            if fan is not None:
                fan.close()


@dataclass
class Slot:
    """One receive slot of a subscriber: a selector and the tracks that carry it."""

    index: int
    selector: str
    audio: SlotTrack | None = None
    video: SlotTrack | None = None
    mids: dict[str, str | None] = field(default_factory=lambda: {"audio": None, "video": None})
    target: str | None = None

    def bind(self, pair: MediaPair | None) -> None:
        for kind in ("audio", "video"):
            track: SlotTrack | None = getattr(self, kind)
            if track is not None:
                track.bind(pair.get(kind) if pair is not None else None)

    def stop(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()


def restrict_codecs(transceiver: RTCRtpTransceiver, video_codec: str) -> None:
    """Keep only the room's codec (plus its RTX) on a negotiated transceiver.

    Forwarding without re-encoding needs the subscriber to decode exactly what the
    publisher encoded; aiortc exposes no public way to narrow an answer's codecs after
    the offer is applied, so the negotiated list is filtered in place.
    """
    wanted = "video/" + video_codec.lower() if transceiver.kind == "video" else "audio/opus"
    codecs = transceiver._codecs
    keep = [c for c in codecs if c.mimeType.lower() == wanted]
    if not keep:
        offered = ", ".join(sorted({c.mimeType for c in codecs})) or "none"
        raise MediaError(f"the offer's {transceiver.kind} m-line lacks {wanted} (offered: {offered})", code="codec")
    types = {c.payloadType for c in keep}
    rtx = [c for c in codecs if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in types]
    transceiver._codecs = keep + rtx


def prefer_codecs(transceiver: RTCRtpTransceiver, video_codec: str) -> None:
    """Offer-side: ask for the room's codec only (public aiortc API)."""
    caps = RTCRtpSender.getCapabilities(transceiver.kind)
    wanted = "video/" + video_codec.lower() if transceiver.kind == "video" else "audio/opus"
    keep = [c for c in caps.codecs if c.mimeType.lower() == wanted]
    keep += [c for c in caps.codecs if c.mimeType.lower().endswith("/rtx")] if transceiver.kind == "video" else []
    transceiver.setCodecPreferences(keep)


@dataclass
class Negotiated:
    """What an answered offer gave the relay: published pairs and receive slots."""

    pairs: list[MediaPair]
    slots: list[Slot]


async def answer_offer(
    pc: RTCPeerConnection,
    sdp: str,
    *,
    label: str,
    can_publish: bool,
    selectors: list[str],
    max_slots: int,
    max_pairs: int,
    video_codec: str,
) -> tuple[str, Negotiated]:
    """Apply a client's offer on the relay side and return (answer SDP, what it holds).

    Sending m-lines of the client become published pairs (k-th audio + k-th video =
    pair k), each tapped into fanouts; receive-only m-lines become slots fed by
    `SlotTrack`s.
    """
    from aiortc import RTCSessionDescription

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except (ValueError, KeyError, IndexError) as exc:
        raise MediaError(f"the offer's SDP cannot be parsed: {exc}", code="bad_sdp") from exc
    except Exception as exc:  # aiortc raises its own OperationError/InvalidStateError
        raise MediaError(f"the offer cannot be applied: {exc}", code="bad_sdp") from exc
    sending: dict[str, list[RTCRtpTransceiver]] = {"audio": [], "video": []}
    receiving: dict[str, list[RTCRtpTransceiver]] = {"audio": [], "video": []}
    for t in pc.getTransceivers():
        restrict_codecs(t, video_codec)
        # _offerDirection is the direction from our side: "recvonly" = the client sends.
        if t._offerDirection in ("recvonly", "sendrecv"):
            sending[t.kind].append(t)
        elif t._offerDirection == "sendonly":
            receiving[t.kind].append(t)
    pairs: list[MediaPair] = []
    for kind, transceivers in sending.items():
        for k, t in enumerate(transceivers):
            if not can_publish or k >= max_pairs:
                t.direction = "inactive"
                continue
            while len(pairs) <= k:
                pairs.append(MediaPair())
            fan = Fanout(kind, f"{label}/{k}/{kind}", receiver_keyframe_requester(t.receiver))
            tap_receiver(t.receiver, fan.push, fan.gap)
            setattr(pairs[k], kind, fan)
            t.direction = "recvonly"
    count = min(max(len(receiving["audio"]), len(receiving["video"])), max_slots)
    slots: list[Slot] = []
    for i in range(count):
        selector = selectors[i] if i < len(selectors) else default_selector(i)
        slot = Slot(index=i, selector=selector)
        for kind in ("audio", "video"):
            if i < len(receiving[kind]):
                t = receiving[kind][i]
                track = SlotTrack(kind)
                t.sender.replaceTrack(track)
                bind_sender(t.sender, track)
                t.direction = "sendonly"
                setattr(slot, kind, track)
                slot.mids[kind] = t.mid
        slots.append(slot)
    for kind in ("audio", "video"):
        for t in receiving[kind][count:]:
            t.direction = "inactive"
    answer = await pc.createAnswer()
    await pc.setLocalDescription(answer)
    return pc.localDescription.sdp, Negotiated(pairs=pairs, slots=slots)


def default_selector(index: int) -> str:
    """spotlight, chair, auto:0, auto:1, ..."""
    return ("spotlight", "chair")[index] if index < 2 else f"auto:{index - 2}"
