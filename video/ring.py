"""A ring buffer of recent frames, JPEG-compressed, so an event can get a clip of what
happened before it was detected.

Raw 720p BGR is 2.7 MB a frame: ten seconds at 30 fps would be 800 MB per camera. The
ring keeps frames at a lower rate (default 5 fps) as JPEG (~100 kB), about 5 MB for 10 s.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from video.frame import Frame
from video.snapshot import encode_jpeg


@dataclass(frozen=True)
class RingFrame:
    """One stored frame: capture times and JPEG bytes."""

    ts: datetime
    mono: float
    jpeg: bytes


class FrameRing:
    """Keeps the last ``seconds`` of frames at up to ``fps`` per second, as JPEG.

    Example::

        ring = FrameRing(seconds=10, fps=5)
        ring.add(frame)                      # from the capture thread; skips frames over the rate
        clip_frames = ring.window(t0, t1)    # monotonic-time window, oldest first
    """

    def __init__(self, seconds: float = 10.0, fps: float = 5.0, jpeg_quality: int = 80,
                 max_width: int | None = 1280) -> None:
        if seconds <= 0 or fps <= 0:
            raise ValueError("seconds and fps must be positive")
        self.seconds = seconds
        self.fps = fps
        self.jpeg_quality = jpeg_quality
        self.max_width = max_width
        self._frames: deque[RingFrame] = deque()
        self._lock = threading.Lock()
        self._last_mono = float("-inf")
        self._bytes = 0

    def add(self, frame: Frame) -> bool:
        """Store the frame if it is due at the ring's rate; True when stored."""
        # 0.9: tolerate jitter so a 30 fps source sampled at 5 fps keeps every 6th frame.
        if frame.mono - self._last_mono < 0.9 / self.fps:
            return False
        self._last_mono = frame.mono
        jpeg = encode_jpeg(frame.image, self.jpeg_quality, self.max_width)
        item = RingFrame(ts=frame.ts, mono=frame.mono, jpeg=jpeg)
        with self._lock:
            self._frames.append(item)
            self._bytes += len(jpeg)
            while self._frames and self._frames[0].mono < frame.mono - self.seconds:
                self._bytes -= len(self._frames.popleft().jpeg)
        return True

    def window(self, start_mono: float, end_mono: float) -> list[RingFrame]:
        """Frames captured in [start_mono, end_mono] (``time.monotonic`` values), oldest first."""
        with self._lock:
            return [f for f in self._frames if start_mono <= f.mono <= end_mono]

    def latest(self) -> RingFrame | None:
        """The newest stored frame, or None when empty."""
        with self._lock:
            return self._frames[-1] if self._frames else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    @property
    def memory_bytes(self) -> int:
        """Bytes of JPEG currently held."""
        return self._bytes
