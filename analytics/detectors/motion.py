"""Motion from background subtraction (OpenCV MOG2): a fallback detector and a gate.

`MotionDetector` reports moving blobs as class ``motion`` when no model is
installed: it says *that* something moves, not what. `GatedDetector` wraps a real
detector and skips it on frames where nothing moves, returning the last result so
that standing objects (a stopped car) keep their tracks. It never skips while a track is
moving: the pipeline tells it (`GatedDetector.tracks_moving`) after every frame, because
a rider moving slowly through a quiet scene changes too few pixels for the gate, and
every skipped frame would repeat his old box.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from analytics.classes import CLASS_IDS
from analytics.detections import Detections
from analytics.detectors.base import Detector, check_frame
from analytics.detectors.config import MotionConfig, MotionGateConfig

_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


class _Foreground:
    """MOG2 foreground mask on a downscaled frame, shadows removed, specks opened away."""

    def __init__(self, history: int, var_threshold: float, max_width: int) -> None:
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold, detectShadows=True)
        self.max_width = max_width
        self.frames = 0

    def mask(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_width / w)
        small = cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else frame
        fg = self._mog.apply(small)
        self.frames += 1
        _, fg = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)  # 127 = shadow in MOG2's mask
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _KERNEL)
        return fg, scale


class MotionDetector(Detector):
    """Boxes around moving blobs, class ``motion``; confidence = fraction of the box that moves.

    Example::

        det = MotionDetector(MotionConfig(min_area=300))
        for frame in frames:
            boxes = det.detect(frame)        # empty during the warm-up frames
    """

    kind = "motion"

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._fg = _Foreground(self.config.history, self.config.var_threshold, self.config.max_width)

    def detect(self, frame: np.ndarray) -> Detections:
        check_frame(frame)
        fg, scale = self._fg.mask(frame)
        if self._fg.frames <= self.config.warmup_frames:
            return Detections.empty()
        fg = cv2.dilate(fg, _KERNEL, iterations=2)  # join the parts of one moving body
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        boxes, scores = [], []
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if area < self.config.min_area:
                continue
            boxes.append([x / scale, y / scale, (x + w) / scale, (y + h) / scale])
            scores.append(area / float(w * h))
        if not boxes:
            return Detections.empty()
        return Detections(xyxy=boxes, confidence=scores, class_id=np.full(len(boxes), CLASS_IDS["motion"]))


class MotionGate:
    """Says whether a frame moves enough to be worth a model run.

    Example::

        gate = MotionGate(MotionGateConfig(enabled=True, min_area_fraction=0.001))
        if gate.moving(frame):
            detections = detector.detect(frame)
    """

    def __init__(self, config: MotionGateConfig) -> None:
        self.config = config
        self._fg = _Foreground(history=300, var_threshold=25.0, max_width=320)  # small: the gate must be cheap
        self.last_fraction = 0.0

    def moving(self, frame: np.ndarray) -> bool:
        """True when the moving-pixel fraction reaches ``min_area_fraction`` (always True while learning)."""
        fg, _ = self._fg.mask(check_frame(frame))
        self.last_fraction = float(np.count_nonzero(fg)) / fg.size
        return self._fg.frames <= 5 or self.last_fraction >= self.config.min_area_fraction


class GatedDetector(Detector):
    """Runs ``inner`` only on moving frames (or every ``refresh_s``, or while tracks move);
    else repeats its last result.

    Example::

        det = GatedDetector(YoloxDetector(cfg), MotionGateConfig(enabled=True))
        det.detect(frame); det.skipped     # frames on which the model was not run
        det.tracks_moving(len(scene_result.moving))   # after each frame: hold the gate open
    """

    def __init__(self, inner: Detector, config: MotionGateConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.gate = MotionGate(config)
        self.config = config
        self.clock = clock  # replay sets the frame clock, so a replay is the same every run
        self._last: Detections = Detections.empty()
        self._last_run: float | None = None
        self._last_shape: tuple[int, ...] | None = None
        self._moving_tracks = 0
        self.skipped = 0
        self.ran = 0
        self.held = 0  # runs only because tracks were moving (the pixels alone would have skipped)

    @property
    def info(self) -> dict[str, Any]:
        return self.inner.info

    def tracks_moving(self, count: int) -> None:
        """How many tracks move now (the scene says, after each frame): while any do, every frame runs."""
        self._moving_tracks = int(count)

    def detect(self, frame: np.ndarray) -> Detections:
        moving = self.gate.moving(frame)
        now = self.clock()
        stale = self._last_run is None or now - self._last_run >= self.config.refresh_s or frame.shape != self._last_shape
        if not moving and not stale:
            if self._moving_tracks <= 0:
                self.skipped += 1
                return self._last
            self.held += 1
        self._last = self.inner.detect(frame)
        self._last_run, self._last_shape = now, frame.shape
        self.ran += 1
        return self._last

    def close(self) -> None:
        self.inner.close()
