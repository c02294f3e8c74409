"""Forwarding encoded media through aiortc without decoding or re-encoding it.

aiortc's receiver reassembles RTP packets into encoded frames in its jitter buffer and
hands them, through a `queue.Queue`, to a decoder thread; its sender takes frames from a
track and either encodes them (`av.Frame`) or only packetizes them (anything else, e.g.
`av.Packet`, via `Encoder.pack`). The relay joins the two ends:

- `tap_receiver` swaps the receiver's decoder queue for a `_FrameTap` *before* the
  receiver starts, so each reassembled frame goes to a `Fanout` instead of the decoder
  (the decoder thread then idles on an empty queue and exits when the receiver stops),
  and its jitter buffer for a `ForwardingJitterBuffer` that releases a frame at its
  marker bit instead of one frame later;
- a `Fanout` copies each encoded frame to its sinks, the `SlotTrack`s;
- a `SlotTrack` is the track of one subscriber's sender: `recv()` returns `av.Packet`s
  that the sender packetizes. A slot can be re-pointed to another fanout (spotlight
  change) without renegotiation: it waits for a key frame of the new source, asks for
  one, and keeps the outgoing RTP timestamps continuous.

Key frame requests travel the other way: a subscriber's PLI/FIR reaches its sender's
`_send_keyframe`, which `bind_sender` points at the slot, which asks its fanout, which
sends a PLI to the publisher (rate-limited, because 100 subscribers joining at once
must not turn into 100 PLIs). NACKs from subscribers are answered by each aiortc sender
from its own history of sent packets (`RTCRtpSender._retransmit`); NACKs to the
publisher come from aiortc's receiver `NackGenerator`: both stay as aiortc does them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
# A keyframe request is sent to a publisher at most this often while one is outstanding,
# and at most every KEYFRAME_MIN_S once the key frame it asked for has arrived.
KEYFRAME_INTERVAL_S = 0.12
KEYFRAME_MIN_S = 0.05

FrameSink = Callable[[str, bytes, int], None]


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded video frame can be decoded on its own.

    VP8: bit 0 of the frame tag is 0 for key frames (RFC 6386 9.1).
    H.264: the access unit (Annex B) holds an IDR slice (NAL type 5).
    """
    if not data:
        return False
    name = codec.lower()
    if name == "vp8":
        # A key frame's tag is followed by the start code 9d 01 2a: checking it keeps a
        # frame whose first packets were lost from passing for a key frame.
        return data[0] & 0x01 == 0 and data[3:6] == b"\x9d\x01\x2a"
    if name == "h264":
        pos = data.find(b"\x00\x00\x01")
        while pos != -1 and pos + 3 < len(data):
            if data[pos + 3] & 0x1F == 5:
                return True
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return False
    return True


class ForwardingJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, but a frame leaves as soon as it is complete, and gaps end.

    aiortc knows a video frame is complete only when the first packet of the *next*
    frame arrives (one frame interval, 40 ms at 25 fps, per relay hop), and holds audio
    back by 4 packets (80 ms per hop) for its decoder. A relay only needs contiguous
    packets up to the marker bit (RFC 3550: last packet of a video frame); an audio
    packet is a frame by itself. Without a marker, aiortc's own rule still applies.

    aiortc also waits on a missing packet until 512 packets have piled up behind it
    (seconds of frozen video for every subscriber) when the NACKed retransmission does
    not come. Here a video gap older than `GAP_S` is skipped: the frames behind it are
    dropped, `on_gap` is called (the fanout then waits for a key frame and asks for
    one). Audio does not wait at all: Opus receivers conceal a lost packet.
    """

    GAP_S = 0.25

    def __init__(self, kind: str, on_gap: Callable[[], None] | None = None) -> None:
        video = kind == "video"
        super().__init__(capacity=512 if video else 16, is_video=video)
        self.on_gap = on_gap
        self.gaps = 0

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        for _ in range(2):  # a second pass after skipping a gap
            frame, gap = self._complete_frame(sequence_number)
            if frame is not None:
                return frame
            if not gap or not self._skip_gap(sequence_number):
                break
        return super()._remove_frame(sequence_number)

    def _complete_frame(self, newest_seq: int) -> tuple[JitterFrame | None, bool]:
        """The frame at the origin if complete; else whether packets wait behind a hole."""
        packets = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                # Only a hole with newer packets behind it is a gap (not a frame still arriving).
                return None, (newest_seq - self._origin) % 65536 > count
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                return None, False
            packets.append(packet)
            if packet.marker or not self._is_video:
                self.remove(count + 1)
                return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp), False  # type: ignore[attr-defined]
        return None, False

    def _skip_gap(self, newest_seq: int) -> bool:
        newest = self._packets[newest_seq % self._capacity]
        slots = [self._packets[(self._origin + i) % self._capacity] for i in range(self.capacity)]
        first_gap = next((i for i, p in enumerate(slots) if p is None), None)
        if newest is None or first_gap is None:
            return False
        oldest = next((p for p in slots if p is not None), None)
        if self._is_video:
            clock = VIDEO_CLOCK
            if oldest is None or (newest.timestamp - oldest.timestamp) % (1 << 32) < self.GAP_S * clock:
                return False  # the retransmission may still come
            # Restart at the first packet after the gap that begins a frame.
            start = None
            for i in range(first_gap + 1, self.capacity):
                prev, cur = slots[i - 1], slots[i]
                if cur is not None and prev is not None and (prev.marker or prev.timestamp != cur.timestamp):
                    start = i
                    break
            if start is None:
                return False
        else:
            start = next((i for i in range(first_gap, self.capacity) if slots[i] is not None), None)
            if start is None:
                return False
        self.remove(start)
        if self._is_video:
            self.gaps += 1
            if self.on_gap is not None:
                self.on_gap()
        return True


class _FrameTap(queue.Queue):
    """Stands in for aiortc's decoder queue: frames go to a callback, not the decoder."""

    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self._sink = sink

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            # The receiver stops: let the (idle) decoder thread end.
            super().put(None, block, timeout)
            return
        codec, frame = item
        try:
            self._sink(codec.name, frame.data, frame.timestamp)
        except Exception:  # a forwarding bug must not kill the receiver's RTP handling
            logger.exception("frame sink failed")


def tap_receiver(receiver: RTCRtpReceiver, sink: FrameSink, on_gap: Callable[[], None] | None = None) -> None:
    """Send `receiver`'s reassembled encoded frames to `sink(codec, data, timestamp)`.

    `on_gap` is called when lost packets were given up on (video). Call before the peer
    connection starts the receiver (i.e. before the answer is applied), because aiortc
    hands the queue to the decoder thread at start.
    """
    attr = "_RTCRtpReceiver__decoder_queue"
    buffer = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, attr) or not hasattr(receiver, buffer):
        raise RuntimeError("this aiortc version has no RTCRtpReceiver decoder queue / jitter buffer to tap")
    setattr(receiver, attr, _FrameTap(sink))
    kind = receiver._RTCRtpReceiver__kind  # type: ignore[attr-defined]
    setattr(receiver, buffer, ForwardingJitterBuffer(kind, on_gap))


def receiver_keyframe_requester(receiver: RTCRtpReceiver) -> Callable[[], None]:
    """A function that sends a PLI for the stream `receiver` gets."""

    def request() -> None:
        sources = receiver.getSynchronizationSources()
        if sources:
            asyncio.ensure_future(receiver._send_rtcp_pli(sources[-1].source))

    return request


class Fanout:
    """Copies the encoded frames of one received track to any number of slots.

    Example::

        fan = Fanout("video", label="u-1/video", request_keyframe=receiver_keyframe_requester(rx))
        tap_receiver(rx, fan.push)
        slot.bind(fan)
    """

    def __init__(self, kind: str, label: str, request_keyframe: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.label = label
        self.codec: str | None = None
        self.enabled = True
        self.frames = 0
        self.keyframes = 0
        self.last_frame_at = 0.0
        self._sinks: set[SlotTrack] = set()
        self._request = request_keyframe
        self._last_request = 0.0
        self._pending_request: asyncio.TimerHandle | None = None
        self._need_key = False
        self._answered = True
        self.dropped = 0

    @property
    def sinks(self) -> int:
        """Number of slots fed by this fanout."""
        return len(self._sinks)

    def push(self, codec: str, data: bytes, timestamp: int) -> None:
        """Forward one encoded frame (called by the receiver tap on the event loop)."""
        self.codec = codec
        self.frames += 1
        self.last_frame_at = time.monotonic()
        key = self.kind == "video" and is_keyframe(codec, data)
        if key:
            self.keyframes += 1
            self._answered = True
        if not self.enabled:
            return
        if self._need_key:
            if not key:
                self.dropped += 1
                return
            self._need_key = False
        for sink in tuple(self._sinks):
            sink.push(codec, data, timestamp, key)

    def gap(self) -> None:
        """Frames were lost for good: forward nothing until the next key frame, and ask for one."""
        if self.kind == "video":
            self._need_key = True
            self.request_keyframe()

    def attach(self, sink: SlotTrack) -> None:
        self._sinks.add(sink)

    def detach(self, sink: SlotTrack) -> None:
        self._sinks.discard(sink)

    def request_keyframe(self) -> None:
        """Ask the publisher for a key frame: one request outstanding at a time.

        Requests while one is outstanding are merged (100 subscribers joining at once
        make one PLI); once its key frame has arrived a new request may go at once, so
        a slot bound just after a key frame does not wait out the whole interval.
        """
        if self.kind != "video" or self._request is None:
            return
        now = time.monotonic()
        interval = KEYFRAME_MIN_S if self._answered else KEYFRAME_INTERVAL_S
        wait = self._last_request + interval - now
        if wait <= 0:
            self._last_request = now
            self._answered = False
            if self._pending_request is not None:
                self._pending_request.cancel()
                self._pending_request = None
            self._request()
        elif self._pending_request is None:
            # Coalesce: one request at the end of the window covers every asker.
            self._pending_request = asyncio.get_event_loop().call_later(wait, self._fire_pending)

    def _fire_pending(self) -> None:
        self._pending_request = None
        self._last_request = time.monotonic()
        self._answered = False
        if self._request is not None:
            self._request()

    def close(self) -> None:
        """The source is gone: unbind every slot (they wait for a new source)."""
        if self._pending_request is not None:
            self._pending_request.cancel()
        for sink in tuple(self._sinks):
            sink.unbind(self)
        self._sinks.clear()
        self._request = None


class SlotTrack(MediaStreamTrack):
    """The track behind one subscriber sender: pre-encoded `av.Packet`s from a fanout.

    Example::

        slot = SlotTrack("video")
        pc.getTransceivers()[2].sender.replaceTrack(slot)
        bind_sender(sender, slot)
        slot.bind(fanout_of_speaker)
    """

    def __init__(self, kind: str, max_queue: int | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.source: Fanout | None = None
        self.forwarded = 0
        self.dropped = 0
        self._clock = VIDEO_CLOCK if kind == "video" else AUDIO_CLOCK
        self._step = self._clock // 30 if kind == "video" else 960
        self._time_base = Fraction(1, self._clock)
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize=max_queue or (30 if kind == "video" else 50))
        self._need_key = kind == "video"
        self._offset: int | None = None
        self._last_in: int | None = None
        self._last_out: int | None = None

    def bind(self, source: Fanout | None) -> None:
        """Feed this slot from `source` (None: nothing) — takes effect at the next key frame."""
        if source is self.source:
            return
        if self.source is not None:
            self.source.detach(self)
        self.source = source
        self._offset = None
        self._need_key = self.kind == "video"
        if source is not None:
            source.attach(self)
            source.request_keyframe()

    def unbind(self, source: Fanout) -> None:
        if self.source is source:
            self.source = None
            self._offset = None

    def request_keyframe(self) -> None:
        """The subscriber lost a picture (PLI/FIR): pass the request to the publisher."""
        if self.source is not None:
            self.source.request_keyframe()

    def push(self, codec: str, data: bytes, timestamp: int, keyframe: bool) -> None:
        if self.readyState != "live":
            return
        if self._need_key:
            if not keyframe:
                self.dropped += 1
                return
            self._need_key = False
        if self._offset is None:
            # New source: continue our own timeline one frame after the last packet sent.
            start = 0 if self._last_out is None else self._last_out + self._step
            self._offset = start - timestamp
        elif self._last_in is not None and timestamp < self._last_in - self._clock * 10:
            # The source restarted its clock (e.g. a cascade link came back).
            self._offset = (self._last_out or 0) + self._step - timestamp
        self._last_in = timestamp
        out = (timestamp + self._offset) & 0xFFFFFFFF
        self._last_out = out
        packet = av.Packet(data)
        packet.pts = out
        packet.time_base = self._time_base
        try:
            self._queue.put_nowait(packet)
            self.forwarded += 1
        except asyncio.QueueFull:
            # The sender fell behind: drop what is queued. Video must then restart at a
            # key frame, or the subscriber would decode garbage until the next one.
            self.dropped += self._queue.qsize() + 1
            while not self._queue.empty():
                self._queue.get_nowait()
            if self.kind == "video":
                self._need_key = True
                self.request_keyframe()
            else:
                self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.source is not None:
            self.source.detach(self)
            self.source = None
        if self.readyState == "live":
            try:
                self._queue.put_nowait(None)
            except asyncio.QueueFull:
                pass
        super().stop()


def bind_sender(sender: RTCRtpSender, slot: SlotTrack) -> None:
    """Route PLI/FIR that reach `sender` to `slot` (aiortc would force its own encoder)."""
    sender._send_keyframe = slot.request_keyframe  # type: ignore[method-assign]
