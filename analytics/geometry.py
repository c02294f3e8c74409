"""Scene geometry: polygon zones, directed counting lines, lanes with a direction.

Zones and lanes use supervision's `PolygonZone` (a well-tested point-in-polygon on
the box anchor). Lines are our own small code: supervision's `LineZone` debounces in
*frames* and reports per-call in/out masks, while we need a *distance* hysteresis
(an anchor must get ``min_crossing_px`` beyond the line on the new side, so a box
jittering on the line never counts twice) and crossings that name track, class and
direction for the rules.

Coordinates are pixels of the camera frame, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from analytics.detections import Detections
from contract import ConfigModel

Point = tuple[float, float]
Anchor = Literal["bottom_center", "center"]


def _check_polygon(value: list[Point]) -> list[Point]:
    if len(value) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(value)}")
    pts = np.asarray(value, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    if area < 1.0:
        raise ValueError("polygon has (almost) no area: its points are on one line")
    return value


class ZoneConfig(ConfigModel):
    """A named polygon; a track is inside when its anchor point is.

    Example::

        ZoneConfig(name="crossing", polygon=[(100, 200), (400, 200), (420, 260), (80, 260)])
    """

    name: str = Field("zone", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="unique name in the scene")
    polygon: list[Point] = Field(max_length=256, description="corners in frame pixels, at least 3")
    anchor: Anchor = Field("bottom_center", description="point of the box tested: feet/wheels or box centre")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, value: list[Point]) -> list[Point]:
        return _check_polygon(value)


class LineConfig(ConfigModel):
    """A directed counting line from ``start`` to ``end``.

    Standing at ``start`` and looking at ``end``, a track moving from your left to
    your right crosses ``in``; the other way is ``out`` (names configurable).

    Example::

        LineConfig(name="gate", start=(0, 400), end=(1280, 400), min_crossing_px=8, in_name="down", out_name="up")
    """

    name: str = Field("line", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="unique name in the scene")
    start: Point = Field(description="first end point, frame pixels")
    end: Point = Field(description="second end point, frame pixels")
    min_crossing_px: float = Field(6.0, ge=0.0, le=500.0, description="anchor must get this far past the line to count (anti-jitter)")
    approach_s: float = Field(1.0, ge=0.0, le=10.0, description="a crossing must agree with the track's motion over this many seconds before it (rejects identity switches)")
    in_name: str = Field("in", min_length=1, max_length=32, description="name of the left-to-right direction")
    out_name: str = Field("out", min_length=1, max_length=32, description="name of the right-to-left direction")
    anchor: Anchor = Field("bottom_center", description="point of the box that crosses")

    @field_validator("end")
    @classmethod
    def _not_a_point(cls, value: Point, info: ValidationInfo) -> Point:
        start = info.data.get("start")
        if start is not None and np.hypot(value[0] - start[0], value[1] - start[1]) < 2.0:
            raise ValueError("line start and end must be at least 2 px apart")
        return value


class LaneConfig(ConfigModel):
    """A lane (or carriageway): a polygon and the direction traffic must move in it.

    Example::

        LaneConfig(name="northbound", polygon=[(0, 720), (600, 720), (640, 300), (560, 300)], direction=(0, -1))
    """

    name: str = Field("lane", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="unique name in the scene")
    polygon: list[Point] = Field(max_length=256, description="corners in frame pixels, at least 3")
    direction: tuple[float, float] = Field(description="allowed travel direction (dx, dy) in image pixels; normalised")
    anchor: Anchor = Field("bottom_center", description="point of the box tested")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, value: list[Point]) -> list[Point]:
        return _check_polygon(value)

    @field_validator("direction")
    @classmethod
    def _nonzero(cls, value: tuple[float, float]) -> tuple[float, float]:
        if np.hypot(*value) < 1e-6:
            raise ValueError("lane direction must not be (0, 0)")
        return value


class Zone:
    """A polygon zone tested on box anchors (through `supervision.PolygonZone`).

    Example::

        >>> z = Zone(ZoneConfig(name="a", polygon=[(0, 0), (100, 0), (100, 100)]))
        >>> z.contains(Detections(xyxy=[[80, 0, 99, 10], [0, 50, 10, 99]])).tolist()
        [True, False]
    """

    def __init__(self, config: ZoneConfig) -> None:
        import supervision as sv

        self.config = config
        self.name = config.name
        self.polygon = np.asarray(config.polygon, dtype=np.float32)
        position = sv.Position.BOTTOM_CENTER if config.anchor == "bottom_center" else sv.Position.CENTER
        self._zone = sv.PolygonZone(np.round(self.polygon).astype(np.int64), triggering_anchors=(position,))

    def contains(self, detections: Detections) -> np.ndarray:
        """Boolean mask: which boxes have their anchor inside the polygon."""
        if len(detections) == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(self._zone.trigger(detections.to_supervision()), dtype=bool)


class Lane(Zone):
    """A zone with a unit travel direction.

    Example::

        >>> lane = Lane(LaneConfig(name="l", polygon=[(0, 0), (100, 0), (100, 100), (0, 100)], direction=(0, 2)))
        >>> lane.along(np.array([3.0, -10.0]))
        -10.0
    """

    def __init__(self, config: LaneConfig) -> None:  # type: ignore[override]
        super().__init__(ZoneConfig(name=config.name, polygon=config.polygon, anchor=config.anchor))
        self.config = config  # type: ignore[assignment]
        d = np.asarray(config.direction, dtype=np.float64)
        self.direction = d / np.linalg.norm(d)

    def along(self, displacement: np.ndarray) -> float:
        """Signed length of ``displacement`` (dx, dy) along the lane direction."""
        return float(np.dot(np.asarray(displacement, dtype=np.float64), self.direction))


@dataclass(frozen=True)
class Crossing:
    """One track crossing one line."""

    line: str
    track_id: int
    class_id: int
    direction: str
    ts: float
    box: tuple[float, float, float, float]


@dataclass
class DirectedLine:
    """A counting line with distance hysteresis; `update` returns the crossings of one frame.

    Example::

        >>> line = DirectedLine(LineConfig(name="g", start=(0, 50), end=(100, 50), min_crossing_px=5))
        >>> line.update(Detections(xyxy=[[40, 20, 60, 40]], tracker_id=[7]), ts=0.0)
        []
        >>> [c.direction for c in line.update(Detections(xyxy=[[40, 40, 60, 60]], tracker_id=[7]), ts=0.2)]
        ['in']
    """

    config: LineConfig
    _side: dict[int, int] = field(default_factory=dict)
    _trail: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # (ts, signed distance), last second

    def __post_init__(self) -> None:
        self.name = self.config.name
        self.a = np.asarray(self.config.start, dtype=np.float64)
        b = np.asarray(self.config.end, dtype=np.float64)
        self.vec = b - self.a
        self.length = float(np.linalg.norm(self.vec))

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance of points from the line; positive on the right of start→end (image axes)."""
        rel = np.asarray(points, dtype=np.float64).reshape(-1, 2) - self.a
        return (self.vec[0] * rel[:, 1] - self.vec[1] * rel[:, 0]) / self.length

    def _within_segment(self, points: np.ndarray) -> np.ndarray:
        rel = np.asarray(points, dtype=np.float64).reshape(-1, 2) - self.a
        t = (rel @ self.vec) / (self.length**2)
        return (t >= 0.0) & (t <= 1.0)

    def update(self, tracks: Detections, ts: float) -> list[Crossing]:
        """Crossings by tracked boxes (``tracker_id >= 0``) since the previous call."""
        if len(tracks) == 0:
            return []
        pts = tracks.anchors(self.config.anchor)
        dist = self.signed_distance(pts)
        inside = self._within_segment(pts)
        thr = self.config.min_crossing_px
        out: list[Crossing] = []
        for i, tid in enumerate(tracks.tracker_id.tolist()):
            if tid < 0:
                continue
            d = float(dist[i])
            trail = self._trail.setdefault(tid, [])
            # How the track approached the line over the last second, before this step.
            approach = trail[-1][1] - trail[0][1] if len(trail) >= 2 else 0.0
            trail.append((ts, d))
            while trail[0][0] < ts - self.config.approach_s:
                trail.pop(0)
            side = 1 if d >= thr else -1 if d <= -thr else 0
            if side == 0:
                continue  # inside the dead band: keep the last confirmed side
            previous = self._side.get(tid)
            self._side[tid] = side
            # A track that was moving away from the line and then lands on its other
            # side in one step is an identity switch between two road users, not a crossing.
            switched = approach * side < -max(thr, 1.0)
            if previous is not None and previous != side and inside[i] and not switched:
                direction = self.config.in_name if side > 0 else self.config.out_name
                x1, y1, x2, y2 = (float(v) for v in tracks.xyxy[i])
                out.append(Crossing(self.name, tid, int(tracks.class_id[i]), direction, ts, (x1, y1, x2, y2)))
        return out

    def forget(self, track_ids: set[int]) -> None:
        """Drop state of tracks that ended."""
        for tid in track_ids:
            self._side.pop(tid, None)
            self._trail.pop(tid, None)
