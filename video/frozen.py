"""Frozen-picture check: frames keep arriving but the picture does not change.

A stall (no frames at all) is `video.stream`'s watchdog. A *frozen* picture is the other
failure of a camera: the encoder keeps sending frames of one image (a hung sensor or
ISP, a player stuck on its last frame). Its frames are bit-identical, or differ by a
grey level here and there after re-encoding. A real scene, however quiet, is not: sensor
noise, compression refreshes (every key frame re-codes the noise), leaves, light.

The check compares each frame with the previous one on a small grey copy (area
downscaling averages the noise of a block of pixels, so the check is cheap and the
figure steady) and calls the picture *still* when the mean absolute difference stays at
or below ``noise_floor`` grey levels. Still for ``after_s`` seconds is frozen; one
changed frame is moving again. It knows nothing about events: the edge pipeline turns
`FrozenChange` into ``camera.frozen`` / ``camera.unfrozen``.

Measured on the real clips of ``../shared/data`` at 160 px wide: consecutive frames of
moving scenes differ by 0.1 to 45 grey levels; the duplicated frames of a screen
recording and the frozen tail of a clip by 0.00 to 0.03; the very same frame by 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np


@dataclass(frozen=True)
class FrozenChange:
    """The picture froze (``state == "frozen"``) or moved again (``"unfrozen"``).

    ``frozen_s`` is how long it has been (or was) still; ``since`` the time of the last
    frame that changed, in the caller's clock.
    """

    state: Literal["frozen", "unfrozen"]
    frozen_s: float
    since: float


class FrozenPicture:
    """Tells when a stream's picture stops changing, and when it changes again.

    Call `update` with each frame (any rate; a 5 fps analysis rate is plenty) and its time
    in seconds, increasing.

    Example::

        check = FrozenPicture(after_s=10.0)
        for t, image in frames:
            change = check.update(image, t)
            if change is not None:
                print(change.state, round(change.frozen_s, 1))    # frozen 10.0 ... unfrozen 42.6
    """

    def __init__(self, after_s: float = 10.0, noise_floor: float = 0.05, width: int = 160) -> None:
        if after_s <= 0 or noise_floor < 0 or width < 8:
            raise ValueError("after_s must be > 0, noise_floor >= 0, width >= 8")
        self.after_s = after_s
        self.noise_floor = noise_floor
        self.width = width
        self._prev: np.ndarray | None = None
        self._changed_at: float | None = None  # time of the last frame that differed from its predecessor
        self.frozen = False
        self.last_difference = float("nan")

    def _small(self, image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        h, w = grey.shape[:2]
        if w > self.width:
            grey = cv2.resize(grey, (self.width, max(2, round(h * self.width / w))), interpolation=cv2.INTER_AREA)
        return grey.astype(np.int16)

    def still_for(self, t: float) -> float:
        """Seconds since the picture last changed (0 before two frames were seen)."""
        return 0.0 if self._changed_at is None else max(0.0, t - self._changed_at)

    def update(self, image: np.ndarray, t: float) -> FrozenChange | None:
        """Look at one frame taken at ``t`` seconds; a `FrozenChange` when the state flips."""
        small = self._small(image)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            self._changed_at = t  # first frame, or the resolution changed: a new picture
            return self._unfreeze(t)
        self.last_difference = float(np.abs(small - prev).mean())
        if self.last_difference > self.noise_floor:
            change = self._unfreeze(t)
            self._changed_at = t
            return change
        assert self._changed_at is not None
        if not self.frozen and t - self._changed_at >= self.after_s:
            self.frozen = True
            return FrozenChange("frozen", t - self._changed_at, self._changed_at)
        return None

    def _unfreeze(self, t: float) -> FrozenChange | None:
        if not self.frozen:
            return None
        self.frozen = False
        since = self._changed_at if self._changed_at is not None else t
        return FrozenChange("unfrozen", t - since, since)
