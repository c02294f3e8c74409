"""Lane discipline: crossing a solid line, and driving in a lane the class may not use."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from analytics.rules.base import Rule, RuleHit, SceneState
from analytics.classes import ClassNames
from analytics.rules.violations.common import ViolationConfigBase


class SolidLineConfig(ViolationConfigBase):
    """Crossing any of ``lines``, scene lines drawn along solid lane markings.

    A scene line has distance hysteresis (``min_crossing_px``), so a wheel riding on
    the marking does not count: the vehicle must get fully to the other side.

    Example::

        SolidLineConfig(lines=["median_left", "median_right"], directions=None)
    """

    type: Literal["solid_line"] = "solid_line"
    lines: list[str] = Field(["solid"], min_length=1, max_length=16, description="scene lines on solid markings")
    directions: list[str] | None = Field(None, description="crossing directions that count; None: both")


class SolidLineRule(Rule):
    """One ``traffic.solid_line`` hit per vehicle and line.

    Example::

        rule = SolidLineRule(SolidLineConfig(lines=["median"]))
    """

    key = "solid_line"
    config_class = SolidLineConfig
    event_type = "traffic.solid_line"
    default_severity = "warning"

    def __init__(self, config: SolidLineConfig) -> None:
        super().__init__(config)
        self.config: SolidLineConfig = config
        self._alerted: set[tuple[str, int]] = set()

    def references(self) -> dict[str, list[str]]:
        return {"lines": list(self.config.lines)}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        self._alerted = {(n, t) for n, t in self._alerted if t not in state.ended}
        hits = []
        for c in state.crossings:
            if c.line not in self.config.lines or (c.line, c.track_id) in self._alerted:
                continue
            if self.config.directions is not None and c.direction not in self.config.directions:
                continue
            h = state.history.get(c.track_id)
            if h is None or h.class_name not in self.config.classes:
                continue
            self._alerted.add((c.line, c.track_id))
            hits.append(self.hit(state, c.track_id, {"line": c.line, "direction": c.direction}))
        return hits


class LaneRestrictionConfig(ViolationConfigBase):
    """Vehicles of ``forbidden_classes`` driving in ``zone`` (e.g. cars in the motorbike lane).

    The vehicle must stay in the lane ``min_dwell_s`` and move ``min_travel_px`` along
    it: crossing the lane to turn or to change lanes is allowed, driving in it is not.

    Example::

        LaneRestrictionConfig(zone="motorbike_lane", forbidden_classes=["car", "bus", "truck"], min_dwell_s=2)
    """

    type: Literal["lane_restriction"] = "lane_restriction"
    zone: str = Field("lane", min_length=1, description="scene zone covering the restricted lane")
    forbidden_classes: ClassNames = Field(["car", "bus", "truck"], min_length=1, description="classes not allowed in it")
    min_dwell_s: float = Field(2.0, ge=0.0, le=600.0, description="seconds in the lane before it counts")
    min_travel_px: float = Field(40.0, ge=0.0, le=5000.0, description="distance driven inside the lane, pixels")



class LaneRestrictionRule(Rule):
    """One ``traffic.lane_violation`` hit per vehicle and stay in the lane.

    Example::

        rule = LaneRestrictionRule(LaneRestrictionConfig(zone="xe_may", forbidden_classes=["car"]))
    """

    key = "lane_restriction"
    config_class = LaneRestrictionConfig
    event_type = "traffic.lane_violation"
    default_severity = "warning"

    def __init__(self, config: LaneRestrictionConfig) -> None:
        super().__init__(config)
        self.config: LaneRestrictionConfig = config
        self._alerted: set[int] = set()

    def references(self) -> dict[str, list[str]]:
        return {"zones": [self.config.zone]}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        zone = self.config.zone
        since = state.zone_since[zone]
        self._alerted &= set(since)  # left the lane: a later stay is a new one
        hits = []
        for tid in sorted(state.zone_members[zone] - self._alerted):
            h = state.history[tid]
            if h.class_name not in self.config.forbidden_classes:
                continue
            entered = since[tid]
            dwell = state.ts - entered
            if dwell < self.config.min_dwell_s:
                continue
            pts = [(x, y) for t, x, y in h.points if t >= entered]
            travel = ((pts[-1][0] - pts[0][0]) ** 2 + (pts[-1][1] - pts[0][1]) ** 2) ** 0.5 if pts else 0.0
            if travel < self.config.min_travel_px:
                continue
            self._alerted.add(tid)
            hits.append(self.hit(state, tid, {"zone": zone, "dwell_s": round(dwell, 2), "travel_px": round(travel, 1)}))
        return hits
