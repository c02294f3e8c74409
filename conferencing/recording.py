"""Optional recording of what the room shows on the floor (the chair's view) to MP4.

Forwarding never decodes, but an MP4 file cannot hold VP8, so the recorder is the one
place that decodes: it taps the floor like any slot (`SlotTrack`s bound through the
room's routing, so it follows spotlight changes), decodes the packets with PyAV and
hands the frames to aiortc's `MediaRecorder`, which encodes H.264/AAC into MP4. It costs
one decode and one encode per room, only when `record_dir` is set.

Example::

    recorder = ChairRecorder(relay, room)   # records to {record_dir}/{room}-{utc}.mp4
    ...
    await recorder.stop()
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import av
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from conferencing.forwarding import SlotTrack
from conferencing.media import Slot

if TYPE_CHECKING:
    from conferencing.room import Room
    from conferencing.server import Relay

logger = logging.getLogger(__name__)


class DecodedTrack(MediaStreamTrack):
    """Decodes the encoded packets of a `SlotTrack` into frames (for the recorder only)."""

    def __init__(self, source: SlotTrack, codec: str) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.codec = av.CodecContext.create(codec, "r")
        self._pending: list[av.frame.Frame] = []

    async def recv(self) -> av.frame.Frame:  # type: ignore[override]
        while not self._pending:
            packet = await self.source.recv()
            try:
                self._pending = list(self.codec.decode(packet))
            except av.FFmpegError as exc:
                logger.debug("recorder could not decode a %s packet: %s", self.kind, exc)
        frame = self._pending.pop(0)
        return frame

    def stop(self) -> None:
        self.source.stop()
        super().stop()


class ChairRecorder:
    """Records a room's floor (spotlight, else chair) to an MP4 file in `record_dir`."""

    def __init__(self, relay: Relay, room: Room) -> None:
        directory = Path(relay.config.record_dir or ".")
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.path = directory / f"{room.id}-{stamp}.mp4"
        self.room = room
        self.slot = Slot(index=-1, selector="spotlight", audio=SlotTrack("audio"), video=SlotTrack("video"))
        room.extra_slots.append(self.slot)
        video_codec = "h264" if relay.config.video_codec == "H264" else "vp8"
        self.recorder = MediaRecorder(str(self.path))
        self.recorder.addTrack(DecodedTrack(self.slot.video, video_codec))  # type: ignore[arg-type]
        self.recorder.addTrack(DecodedTrack(self.slot.audio, "opus"))  # type: ignore[arg-type]
        self._started = asyncio.ensure_future(self.recorder.start())
        room.changed()
        logger.info("recording room %s to %s", room.id, self.path)

    async def stop(self) -> None:
        if self.slot in self.room.extra_slots:
            self.room.extra_slots.remove(self.slot)
        await self._started
        try:
            await self.recorder.stop()
        except MediaStreamError:
            pass
        self.slot.stop()
