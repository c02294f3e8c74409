"""Multi-object tracking: ByteTrack from Roboflow's `trackers` library.

Why `trackers`: supervision (0.31 here) no longer ships `sv.ByteTrack`; Roboflow
moved tracking into this package, its maintained, clean-room implementation (Apache-2.0, numpy + scipy only,
no torch). It takes capture timestamps, so a camera that drops frames or runs at
5 fps keeps the Kalman prediction and the lost-track budget in seconds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from analytics.detections import Detections
from contract import ConfigModel


class ByteTrackConfig(ConfigModel):
    """ByteTrack settings.

    Example::

        ByteTrackConfig(lost_s=1.5, activation_confidence=0.4)
    """

    type: Literal["bytetrack"] = "bytetrack"
    lost_s: float = Field(1.5, gt=0.0, le=60.0, description="seconds a lost track is kept for re-association")
    activation_confidence: float = Field(0.4, ge=0.0, le=1.0, description="a new track starts only from boxes this confident")
    high_confidence: float = Field(0.5, ge=0.0, le=1.0, description="first-stage (high) vs second-stage (low) association split")
    min_iou: float = Field(0.1, ge=0.0, le=1.0, description="IoU with the predicted box needed to associate")
    min_consecutive: int = Field(2, ge=1, le=30, description="updates before a track gets an id (suppresses one-frame ghosts)")
    buffer_ratio: float = Field(
        0.5,
        ge=0.0,
        le=2.0,
        description="grow boxes by this fraction before IoU matching (C-BIoU); 0 = plain IoU. "
        "At 5 fps a near vehicle moves more than its own height between frames, and plain IoU loses it",
    )


TrackerConfig = ByteTrackConfig


class Tracker:
    """Assigns stable ``tracker_id`` values to detections over time.

    Example::

        tracker = Tracker(ByteTrackConfig())
        for ts, frame in frames:
            tracks = tracker.update(detector.detect(frame), ts)   # tracker_id >= 0 once confirmed
    """

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        from trackers import ByteTrackTracker
        from trackers.utils.iou import BIoU, IoU

        self.config = config or ByteTrackConfig()
        self._impl = ByteTrackTracker(
            lost_track_buffer=max(1, round(self.config.lost_s * 30)),  # the library counts 30 fps frames
            frame_rate=30.0,
            track_activation_threshold=self.config.activation_confidence,
            minimum_consecutive_frames=self.config.min_consecutive,
            minimum_iou_threshold=self.config.min_iou,
            high_conf_det_threshold=self.config.high_confidence,
            iou=BIoU(buffer_ratio=self.config.buffer_ratio) if self.config.buffer_ratio > 0 else IoU(),
        )

    def update(self, detections: Detections, ts: float) -> Detections:
        """All input boxes back, with ``tracker_id`` set (-1 for boxes not (yet) in a confirmed track)."""
        if not np.isfinite(ts):
            raise ValueError(f"timestamp must be finite, got {ts}")
        result = self._impl.update(detections.to_supervision(), timestamp=float(ts))
        return Detections.from_supervision(result)

    def reset(self) -> None:
        """Forget every track (new video, camera moved)."""
        self._impl.reset()
