"""Traffic signal state: from the picture (HSV colour of the lamp) or from a controller feed.

The red-light rule asks "what did the signal show at time t, and since when?". Both
sources answer through a `SignalTimeline`:

- `classify_lamp` reads the lit colour inside a region of the frame around the signal
  head. HSV, because a lit lamp is defined by hue at high saturation and brightness,
  which survives the exposure changes that break RGB thresholds; no model is needed.
- `SIGNALS`, a process-wide `SignalBoard`, holds one timeline per external signal id;
  the edge's controller feed (HTTP POST or MQTT, `edge/evidence/signal_feed.py`) writes
  into it and rules read from it. It only keeps data: no I/O happens here.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from analytics.rules.violations.exceptions import SignalError

SignalColour = Literal["red", "amber", "green", "unknown"]
COLOURS: tuple[SignalColour, ...] = ("red", "amber", "green", "unknown")

# OpenCV hue is 0-179. Red wraps around 0; amber sits between red and green.
_HUE_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "red": ((0, 9), (165, 179)),
    "amber": ((10, 34),),
    "green": ((35, 100),),
}


@dataclass(frozen=True)
class LampReading:
    """The colour the lamp region shows and the fraction of its pixels lit in that colour."""

    colour: SignalColour
    lit_fraction: float


def classify_lamp(
    frame: np.ndarray,
    roi: tuple[int, int, int, int],
    *,
    min_saturation: int = 90,
    min_value: int = 150,
    min_lit_fraction: float = 0.02,
) -> LampReading:
    """Which colour is lit inside ``roi`` (x1, y1, x2, y2) of a BGR frame.

    Example::

        classify_lamp(frame, (1180, 40, 1210, 120))   # LampReading(colour='red', lit_fraction=0.18)
    """
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = max(0, roi[0]), max(0, roi[1]), min(w, roi[2]), min(h, roi[3])
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise SignalError(f"signal region {roi} is outside the {w}x{h} frame")
    hsv = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lit = (sat >= min_saturation) & (val >= min_value)
    total = hue.size
    best: tuple[float, SignalColour] = (0.0, "unknown")
    for colour, ranges in _HUE_RANGES.items():
        mask = np.zeros_like(lit)
        for lo, hi in ranges:
            mask |= (hue >= lo) & (hue <= hi)
        fraction = float((lit & mask).sum()) / total
        if fraction > best[0]:
            best = (fraction, colour)  # type: ignore[assignment]
    if best[0] < min_lit_fraction:
        return LampReading("unknown", best[0])
    return LampReading(best[1], best[0])


class SignalTimeline:
    """The history of one signal: (time, colour) changes, thread-safe, bounded.

    Example::

        tl = SignalTimeline()
        tl.record(100.0, "green"); tl.record(130.0, "amber"); tl.record(133.0, "red")
        tl.state_at(134.2)       # ('red', 133.0): red since 133.0
    """

    def __init__(self, max_changes: int = 2048, stale_s: float | None = None) -> None:
        self._times: list[float] = []
        self._colours: list[SignalColour] = []
        self._lock = threading.Lock()
        self.max_changes = max_changes
        self.stale_s = stale_s
        self._last_seen = float("-inf")

    def record(self, ts: float, colour: str) -> None:
        """The signal shows ``colour`` at ``ts``; repeats extend it, changes start a new phase."""
        if colour not in COLOURS:
            raise SignalError(f"unknown signal colour {colour!r}; expected one of {COLOURS}")
        if not np.isfinite(ts):
            raise SignalError(f"signal time must be finite, got {ts}")
        with self._lock:
            self._last_seen = max(self._last_seen, ts)
            i = bisect.bisect_right(self._times, ts)
            if i > 0 and self._colours[i - 1] == colour:
                return
            # A late message (an MQTT retry) is inserted in time order, never appended blindly.
            self._times.insert(i, ts)
            self._colours.insert(i, colour)  # type: ignore[arg-type]
            if i + 1 < len(self._times) and self._colours[i + 1] == colour:
                del self._times[i + 1], self._colours[i + 1]
            if len(self._times) > self.max_changes:
                del self._times[0], self._colours[0]

    def state_at(self, ts: float) -> tuple[SignalColour, float]:
        """(colour, since when) at ``ts``; ("unknown", ts) before the first record or when stale."""
        with self._lock:
            i = bisect.bisect_right(self._times, ts)
            if i == 0:
                return "unknown", ts
            if self.stale_s is not None and ts - self._last_seen > self.stale_s:
                return "unknown", ts  # the feed went quiet: never claim red from old news
            return self._colours[i - 1], self._times[i - 1]


class SignalBoard:
    """Timelines of external signals by id (``"nga-tu-hang-xanh/bac"``), shared in one process.

    Example::

        SIGNALS.record("j1/north", ts=time.time(), colour="red")     # from the controller feed
        SIGNALS.timeline("j1/north").state_at(time.time())          # in the red-light rule
    """

    def __init__(self, stale_s: float | None = 120.0) -> None:
        self._timelines: dict[str, SignalTimeline] = {}
        self._lock = threading.Lock()
        self.stale_s = stale_s

    def timeline(self, signal_id: str) -> SignalTimeline:
        with self._lock:
            tl = self._timelines.get(signal_id)
            if tl is None:
                tl = self._timelines[signal_id] = SignalTimeline(stale_s=self.stale_s)
            return tl

    def record(self, signal_id: str, ts: float, colour: str) -> None:
        if not signal_id or len(signal_id) > 128:
            raise SignalError("signal id must be 1-128 characters")
        self.timeline(signal_id).record(ts, colour)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._timelines)


SIGNALS = SignalBoard()
"""The process-wide board the controller feed writes and the red-light rule reads."""
