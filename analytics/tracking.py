"""Multi-object tracking: ByteTrack from Roboflow's `trackers` library, gated for motorbike packs.

Why `trackers`: supervision (0.31 here) no longer ships `sv.ByteTrack`; Roboflow
moved tracking into this package, its maintained, clean-room implementation (Apache-2.0, numpy + scipy only,
no torch). It takes capture timestamps, so a camera that drops frames or runs at
5 fps keeps the Kalman prediction and the lost-track budget in seconds.

In a pack of motorbikes, plain (buffered) IoU lets a lost track grab the neighbour's box:
its identity jumps to another citizen's bike, and a rule then blames the wrong rider. Two
gates stop that, both applied through the library's own extension points:

- **class family**: boxes of different families (two-wheelers and pedestrians, four-wheelers;
  `analytics.classes.TRACK_FAMILIES`) are moved far apart in the tracker's coordinates, so no
  association across families can have any overlap (the trick batched NMS uses);
- **jump**: `GatedIoU` zeroes the similarity of a detection whose centre lies further from
  the track's Kalman-predicted centre than ``max_jump`` box sizes (width across, height along), or
  whose size changes more than ``max_scale`` times.

The class a track shows is decided by confidence-weighted vote over its history
(`analytics.rules.base.TrackHistory`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field
from trackers.utils.iou import BIoU

from analytics.classes import TRACK_FAMILIES, class_name
from analytics.detections import Detections
from contract import ConfigModel

# Tracker coordinates of family k are shifted by k * _FAMILY_OFFSET px on x: no real frame
# is that wide, so buffered boxes of two families can never overlap.
_FAMILY_OFFSET = 1.0e5
_FAMILY_INDEX = {name: i for i, name in enumerate(sorted(set(TRACK_FAMILIES.values())))}


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
    max_jump: float = Field(
        1.0, gt=0.0, le=10.0,
        description="an association whose centre lies further than this many box sizes from the track's "
        "predicted centre is refused (no identity jumps between neighbouring bikes); the Kalman "
        "prediction already carries the track's speed",
    )
    max_scale: float = Field(5.0, gt=1.0, le=20.0, description="an association that changes the box area more than this factor is refused (detections of one vehicle flicker by 3-4x in area on real highway footage)")
    family_gate: bool = Field(True, description="never associate a two-wheeler (or pedestrian) box with a four-wheeler box")


TrackerConfig = ByteTrackConfig


class GatedIoU(BIoU):
    """Buffered IoU that refuses implausible jumps and size changes.

    Example::

        GatedIoU(buffer_ratio=0.5, max_jump=0.75).compute(predicted_xyxy, detections_xyxy)
    """

    def __init__(self, buffer_ratio: float, max_jump: float, max_scale: float, young_jump: float = 2.0) -> None:
        super().__init__(buffer_ratio=buffer_ratio)
        self.max_jump = max_jump
        self.max_scale = max_scale
        self.young_jump = young_jump
        self.tracks: list[Any] = []  # the tracker's tracklets, to tell young tracks (no speed known yet)

    def _limits(self, boxes_1: np.ndarray) -> np.ndarray:
        """Per row, the jump allowed: a track seen only once or twice has no speed in its
        prediction yet, so it gets ``young_jump``; every other track gets ``max_jump``."""
        limits = np.full(len(boxes_1), self.max_jump)
        young = [t.get_state_bbox() for t in self.tracks if t.age <= 2]
        if young:
            ybox = np.asarray(young, np.float64).reshape(-1, 4)
            is_young = (np.abs(boxes_1[:, None, :] - ybox[None, :, :]).max(axis=2) < 1e-6).any(axis=1)
            limits[is_young] = self.young_jump
        return limits

    def _compute(self, boxes_1: np.ndarray, boxes_2: np.ndarray) -> np.ndarray:
        sim = super()._compute(boxes_1, boxes_2)
        c1 = (boxes_1[:, None, :2] + boxes_1[:, None, 2:]) / 2
        c2 = (boxes_2[None, :, :2] + boxes_2[None, :, 2:]) / 2
        w1 = np.maximum(boxes_1[:, 2] - boxes_1[:, 0], 1.0)
        h1 = np.maximum(boxes_1[:, 3] - boxes_1[:, 1], 1.0)
        a2 = np.maximum((boxes_2[:, 2] - boxes_2[:, 0]) * (boxes_2[:, 3] - boxes_2[:, 1]), 1.0)
        # Per axis: a neighbour one bike-width to the side is as far as one a bike-height ahead.
        d = (c2 - c1) / np.stack([w1, h1], axis=1)[:, None, :]
        jump = np.linalg.norm(d, axis=2)
        scale = a2[None, :] / (w1 * h1)[:, None]
        bad = (jump > self._limits(boxes_1)[:, None]) | (scale > self.max_scale) | (scale < 1.0 / self.max_scale)
        return np.where(bad, 0.0, sim)


class Tracker:
    """Assigns stable ``tracker_id`` values to detections over time.

    Example::

        tracker = Tracker(ByteTrackConfig())
        for ts, frame in frames:
            tracks = tracker.update(detector.detect(frame), ts)   # tracker_id >= 0 once confirmed
    """

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        from trackers import ByteTrackTracker

        self.config = config or ByteTrackConfig()
        self._iou = GatedIoU(self.config.buffer_ratio, self.config.max_jump, self.config.max_scale)
        self._impl = ByteTrackTracker(
            lost_track_buffer=max(1, round(self.config.lost_s * 30)),  # the library counts 30 fps frames
            frame_rate=30.0,
            track_activation_threshold=self.config.activation_confidence,
            minimum_consecutive_frames=self.config.min_consecutive,
            minimum_iou_threshold=self.config.min_iou,
            high_conf_det_threshold=self.config.high_confidence,
            iou=self._iou,
        )

    def update(self, detections: Detections, ts: float) -> Detections:
        """All input boxes back, with ``tracker_id`` set (-1 for boxes not (yet) in a confirmed track)."""
        if not np.isfinite(ts):
            raise ValueError(f"timestamp must be finite, got {ts}")
        sv_dets = detections.to_supervision()
        if self.config.family_gate and len(sv_dets):
            sv_dets.xyxy = sv_dets.xyxy.astype(np.float64) + self._offsets(sv_dets.class_id)
        self._iou.tracks = self._impl.tracks
        out = self._impl.update(sv_dets, timestamp=float(ts))
        if self.config.family_gate and len(out):
            out.xyxy = out.xyxy - self._offsets(out.class_id)
        return Detections.from_supervision(out)

    @staticmethod
    def _offsets(class_id: np.ndarray) -> np.ndarray:
        """Per box, the x shift of its family in tracker coordinates, as (N, 4) float64."""
        families = [TRACK_FAMILIES.get(class_name(c), "other") for c in np.asarray(class_id).tolist()]
        x = np.array([_FAMILY_INDEX.get(f, len(_FAMILY_INDEX)) * _FAMILY_OFFSET for f in families], np.float64)
        return x[:, None] * np.array([1.0, 0.0, 1.0, 0.0])

    def reset(self) -> None:
        """Forget every track (new video, camera moved)."""
        self._impl.reset()
