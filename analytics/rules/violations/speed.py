"""Speeding: image points mapped to metres on the road by a homography, speed over a measured segment.

The calibration is four image points and where they lie on the road in metres (e.g. the
corners of a stretch of lane markings measured on site); `cv2.getPerspectiveTransform`
gives the plane-to-plane homography. A vehicle's speed is measured between two scene
lines: the times it crossed each are interpolated between processed frames (at 5 fps a
frame is 0.2 s, too coarse to take as is), and the distance is the one it drove between
the two crossing points, in metres.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from analytics.geometry import DirectedLine, Point
from analytics.rules.base import Rule, RuleHit, SceneState, TrackHistory
from analytics.classes import known_classes
from analytics.rules.violations.common import ViolationConfigBase
from analytics.rules.violations.exceptions import CalibrationError
from contract import ConfigModel


def _no_three_collinear(points: list[Point], what: str) -> None:
    pts = np.asarray(points, dtype=np.float64)
    scale = max(1.0, float(np.ptp(pts, axis=0).max()))
    for i in range(4):
        a, b, c = (pts[j] for j in range(4) if j != i)
        area = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2
        if area < 1e-3 * scale * scale:
            raise CalibrationError(f"three of the four {what} are on one line; pick four corners of a quadrilateral")


class CalibrationConfig(ConfigModel):
    """A camera's road-plane calibration; its ``id`` goes into every speeding evidence manifest.

    Example::

        CalibrationConfig(id="cam-01-2026-11-01", image_points=[(520, 300), (760, 300), (1100, 700), (180, 700)],
                          world_points=[(0, 60), (7.4, 60), (7.4, 0), (0, 0)])
    """

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="calibration id (evidence)")
    image_points: list[Point] = Field(min_length=4, max_length=4, description="four points in frame pixels")
    world_points: list[Point] = Field(min_length=4, max_length=4, description="the same points on the road, metres")

    @model_validator(mode="after")
    def _usable(self) -> CalibrationConfig:
        _no_three_collinear(self.image_points, "image points")
        _no_three_collinear(self.world_points, "world points")
        return self

    def homography(self) -> np.ndarray:
        """3x3 matrix mapping frame pixels to road metres."""
        src = np.asarray(self.image_points, dtype=np.float32)
        dst = np.asarray(self.world_points, dtype=np.float32)
        matrix = cv2.getPerspectiveTransform(src, dst)
        if not np.isfinite(matrix).all():
            raise CalibrationError(f"calibration {self.id}: the points give no finite homography")
        return matrix


class RoadPlane:
    """Frame pixels to road metres through a calibration.

    Example::

        plane = RoadPlane(calibration)
        plane.to_world([[640, 500]])     # array([[3.7, 21.2]])
    """

    def __init__(self, calibration: CalibrationConfig) -> None:
        self.calibration = calibration
        self.matrix = calibration.homography()

    def to_world(self, points: np.ndarray | list) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.matrix).reshape(-1, 2)


def crossing_point(times: np.ndarray, world: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray] | None:
    """Interpolated (time, point) where a world-space path crosses the line through a, b (last crossing)."""
    d = b - a
    side = d[0] * (world[:, 1] - a[1]) - d[1] * (world[:, 0] - a[0])
    for i in range(len(side) - 1, 0, -1):
        s0, s1 = side[i - 1], side[i]
        if s0 == 0.0:
            return float(times[i - 1]), world[i - 1]
        if s0 * s1 < 0:
            f = s0 / (s0 - s1)
            return float(times[i - 1] + f * (times[i] - times[i - 1])), world[i - 1] + f * (world[i] - world[i - 1])
    return None


class SpeedingConfig(ViolationConfigBase):
    """Speed over the segment between two scene lines, against a limit per vehicle class.

    A violation is a speed above ``limit + tolerance_kmh`` (Decree 168/2024 fines start
    at 5 km/h over the limit). Speeds above ``max_plausible_kmh`` are tracking errors
    (an id switch), not vehicles, and are dropped.

    Example::

        SpeedingConfig(lines=("entry", "exit"), calibration=cal, default_limit_kmh=80,
                       limits_kmh={"truck": 70, "bus": 70})
    """

    type: Literal["speeding"] = "speeding"
    lines: tuple[str, str] = Field(("speed_a", "speed_b"), description="the two scene lines bounding the segment")
    calibration: CalibrationConfig = Field(description="road-plane calibration of this camera")
    default_limit_kmh: float = Field(60.0, gt=0.0, le=200.0, description="limit for classes not in limits_kmh")
    limits_kmh: dict[str, float] = Field({}, description="class -> speed limit, km/h")
    tolerance_kmh: float = Field(5.0, ge=0.0, le=50.0, description="speed over the limit that is still let go")
    min_segment_m: float = Field(5.0, gt=0.0, le=1000.0, description="shorter measured paths are refused")
    max_plausible_kmh: float = Field(250.0, gt=0.0, le=500.0, description="faster readings are tracking errors")

    @field_validator("limits_kmh")
    @classmethod
    def _limits(cls, value: dict[str, float]) -> dict[str, float]:
        value = dict(zip(known_classes(list(value)), value.values(), strict=True))
        bad = {k: v for k, v in value.items() if not 0 < v <= 200}
        if bad:
            raise ValueError(f"speed limits must be in (0, 200] km/h: {bad}")
        return value


class SpeedingRule(Rule):
    """One ``traffic.speeding`` hit per vehicle measured over the limit; every measurement is kept
    in ``measurements`` (the last 1000) for calibration checks.

    Example::

        rule = SpeedingRule(SpeedingConfig(lines=("a", "b"), calibration=cal, default_limit_kmh=80))
        hits = rule.evaluate(state)     # payload: speed_kmh, limit_kmh, calibration_id, segment_m
    """

    key = "speeding"
    config_class = SpeedingConfig
    event_type = "traffic.speeding"
    default_severity = "warning"

    def __init__(self, config: SpeedingConfig) -> None:
        super().__init__(config)
        self.config: SpeedingConfig = config
        self.plane = RoadPlane(config.calibration)
        self._crossed: dict[int, set[str]] = {}
        self._measured: set[int] = set()
        self.measurements: list[dict[str, float | int | str]] = []

    def references(self) -> dict[str, list[str]]:
        return {"lines": list(self.config.lines)}

    def limit_for(self, class_name: str) -> float:
        return self.config.limits_kmh.get(class_name, self.config.default_limit_kmh)

    def measure(self, history: TrackHistory, lines: tuple[DirectedLine, DirectedLine]) -> tuple[float, float, float] | None:
        """(speed km/h, path metres, seconds) between the two lines, or None when not measurable."""
        pts = np.asarray(history.points, dtype=np.float64)
        if len(pts) < 2:
            return None
        times, world = pts[:, 0], self.plane.to_world(pts[:, 1:])
        found = []
        for line in lines:
            ends = self.plane.to_world([line.config.start, line.config.end])
            hit = crossing_point(times, world, ends[0], ends[1])
            if hit is None:
                return None
            found.append(hit)
        (t0, p0), (t1, p1) = sorted(found, key=lambda x: x[0])
        inside = (times > t0) & (times < t1)
        path = np.vstack([p0, world[inside], p1])
        metres = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
        seconds = t1 - t0
        if seconds <= 0 or metres < self.config.min_segment_m:
            return None
        return metres / seconds * 3.6, metres, seconds

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        for tid in state.ended:
            self._crossed.pop(tid, None)
            self._measured.discard(tid)
        hits = []
        names = self.config.lines
        for c in state.crossings:
            if c.line not in names or c.track_id in self._measured:
                continue
            crossed = self._crossed.setdefault(c.track_id, set())
            crossed.add(c.line)
            if len(crossed) < 2:
                continue
            self._measured.add(c.track_id)
            h = state.history.get(c.track_id)
            if h is None or h.class_name not in self.config.classes:
                continue
            result = self.measure(h, (state.lines[names[0]], state.lines[names[1]]))
            if result is None or result[0] > self.config.max_plausible_kmh:
                continue
            speed, metres, seconds = result
            limit = self.limit_for(h.class_name)
            record = {"track": c.track_id, "class": h.class_name, "speed_kmh": round(speed, 1),
                      "limit_kmh": limit, "segment_m": round(metres, 2), "duration_s": round(seconds, 3),
                      "calibration_id": self.config.calibration.id, "ts": state.ts}
            self.measurements = (self.measurements + [record])[-1000:]
            if speed > limit + self.config.tolerance_kmh:
                payload = {k: v for k, v in record.items() if k not in ("track", "class", "ts")}
                payload["lines"] = list(names)
                hits.append(self.hit(state, c.track_id, payload))
        return hits
