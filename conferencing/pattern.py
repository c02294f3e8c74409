"""A video test signal that survives lossy coding: a flat colour and a 24-bit barcode.

Simulated endpoints publish it, receivers read it back after decoding, so a test can
say *whose* video arrived (the colour), that it moves (the counter), and how late it is
(the barcode carries the send time in milliseconds, modulo 2^24).

Example::

    track = PatternTrack(colour=(200, 30, 30), fps=25)
    frame = await track.recv()
    colour, value = read_pattern(frame.to_ndarray(format="rgb24"))
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

BITS = 24
CLOCK = 90_000


def now_ms() -> int:
    """Wall-clock milliseconds modulo 2^24 (what the barcode carries)."""
    return int(time.time() * 1000) % (1 << BITS)


def age_ms(stamp: int) -> int:
    """Milliseconds since `stamp` (a `now_ms()` value), handling the wrap."""
    return (now_ms() - stamp) % (1 << BITS)


def render_pattern(width: int, height: int, colour: tuple[int, int, int], value: int) -> np.ndarray:
    """An RGB frame: `colour` everywhere, `value` as black/white blocks along the top."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = colour
    block = max(4, width // (BITS + 2))
    top = block // 2
    img[: top + block + block // 2, :] = (128, 128, 128)
    for bit in range(BITS):
        on = (value >> (BITS - 1 - bit)) & 1
        x = block + bit * block
        img[top : top + block, x : x + block] = 255 if on else 0
    return img


def read_pattern(img: np.ndarray) -> tuple[tuple[int, int, int], int]:
    """(mean colour of the lower half, barcode value) of a decoded RGB frame."""
    height, width = img.shape[:2]
    block = max(4, width // (BITS + 2))
    top = block // 2
    value = 0
    for bit in range(BITS):
        x = block + bit * block
        cy, cx = top + block // 2, x + block // 2
        patch = img[cy - block // 4 : cy + block // 4 + 1, cx - block // 4 : cx + block // 4 + 1]
        value = (value << 1) | int(patch.mean() > 128)
    lower = img[height // 2 :, :].reshape(-1, 3).mean(axis=0)
    return (int(lower[0]), int(lower[1]), int(lower[2])), value


def colour_close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


class PatternTrack(MediaStreamTrack):
    """A live video track of `render_pattern` frames stamped with the send time.

    Example::

        RelayClient(url, token, publish=lambda: [(None, PatternTrack((0, 160, 0)))])
    """

    kind = "video"

    def __init__(self, colour: tuple[int, int, int], *, width: int = 640, height: int = 360, fps: int = 25) -> None:
        super().__init__()
        self.colour = colour
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self._start: float | None = None

    def set_colour(self, colour: tuple[int, int, int]) -> None:
        self.colour = colour

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.frames / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame.from_ndarray(
            render_pattern(self.width, self.height, self.colour, now_ms()), format="rgb24"
        )
        frame.pts = int(self.frames * CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, CLOCK)
        self.frames += 1
        return frame


def encode_pattern(
    codec: str, *, frames: int = 50, width: int = 640, height: int = 360, fps: int = 25,
    colour: tuple[int, int, int] = (40, 90, 200), gop: int = 25, bitrate: int = 600_000,
) -> list[bytes]:
    """Encode `frames` pattern frames (barcode = frame index) once, as VP8 or H.264 (Annex B)."""
    name = {"vp8": "libvpx", "h264": "libx264"}[codec.lower()]
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.framerate = fractions.Fraction(fps, 1)
    ctx.bit_rate = bitrate
    ctx.gop_size = gop
    if name == "libvpx":
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "auto-alt-ref": "0"}
    else:
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    out: list[bytes] = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(render_pattern(width, height, colour, i), format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out.extend(bytes(p) for p in ctx.encode(frame))
    out.extend(bytes(p) for p in ctx.encode(None))
    return out[:frames]


class EncodedPatternTrack(MediaStreamTrack):
    """Sends pre-encoded frames (`encode_pattern`) in a loop: a publisher that costs no encoding.

    `sent[i]` is the wall-clock time frame index `i` was last handed to the sender, so a
    receiver that reads the barcode (the frame index) can measure end-to-end latency.

    Example::

        track = EncodedPatternTrack(encode_pattern("vp8"), fps=25)
    """

    kind = "video"

    def __init__(self, packets: list[bytes], *, fps: int = 25) -> None:
        super().__init__()
        self.packets = packets
        self.fps = fps
        self.count = 0
        self.sent: dict[int, float] = {}
        self._start: float | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.count / self.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        index = self.count % len(self.packets)
        packet = av.Packet(self.packets[index])
        packet.pts = int(self.count * CLOCK / self.fps)
        packet.time_base = fractions.Fraction(1, CLOCK)
        self.sent[index] = time.time()
        self.count += 1
        return packet
