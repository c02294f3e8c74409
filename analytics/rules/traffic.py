"""Traffic rules built on lanes and zones: wrong way, illegal stopping."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from analytics.classes import VEHICLES, ClassNames
from analytics.rules.base import Rule, RuleConfigBase, RuleHit, SceneState



class WrongWayConfig(RuleConfigBase):
    """Flag tracks moving against their lane's direction.

    A track is flagged once it has moved at least ``min_distance_px`` against the
    lane direction since entering the lane, in at least ``min_frames`` backward steps:
    both together keep box jitter and a slowly drifting parked car from firing.

    Example::

        WrongWayConfig(lanes=["northbound"], min_distance_px=40, min_frames=5)
    """

    type: Literal["wrong_way"] = "wrong_way"
    lanes: list[str] = Field(["lane"], min_length=1, description="names of lanes in the scene")
    classes: ClassNames = Field(list(VEHICLES), min_length=1, description="classes checked")
    min_distance_px: float = Field(40.0, gt=0.0, le=10000.0, description="net distance against the lane, pixels")
    min_frames: int = Field(5, ge=1, le=1000, description="processed frames with a backward step")
    step_px: float = Field(0.5, ge=0.0, le=100.0, description="a step shorter than this is standing still, not backward")



class WrongWayRule(Rule):
    """One ``traffic.wrong_way`` hit per track and lane.

    Example::

        rule = WrongWayRule(WrongWayConfig(lanes=["left", "right"]))
    """

    key = "wrong_way"
    config_class = WrongWayConfig
    event_type = "traffic.wrong_way"
    default_severity = "warning"

    def __init__(self, config: WrongWayConfig) -> None:
        super().__init__(config)
        self.config: WrongWayConfig = config
        self._alerted: set[tuple[str, int]] = set()

    def references(self) -> dict[str, list[str]]:
        return {"lanes": list(self.config.lanes)}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        hits = []
        for lane_name in self.config.lanes:
            lane = state.lanes[lane_name]
            since = state.lane_since[lane_name]
            self._alerted = {(n, t) for n, t in self._alerted if n != lane_name or t in since}
            for tid in sorted(state.lane_members[lane_name]):
                if (lane_name, tid) in self._alerted:
                    continue
                h = state.history[tid]
                if h.class_name not in self.config.classes:
                    continue
                pts = np.array([(x, y) for t, x, y in h.points if t >= since[tid]])
                if len(pts) < self.config.min_frames + 1:
                    continue
                steps = np.diff(pts, axis=0) @ lane.direction
                backward = int((steps < -self.config.step_px).sum())
                net = float(steps.sum())
                if net <= -self.config.min_distance_px and backward >= self.config.min_frames:
                    self._alerted.add((lane_name, tid))
                    payload = {"lane": lane_name, "distance_px": round(-net, 1), "backward_frames": backward}
                    hits.append(self.hit(state, tid, payload))
        return hits


class IllegalStoppingConfig(RuleConfigBase):
    """Flag vehicles standing still in a no-stopping zone longer than ``max_stationary_s``.

    Example::

        IllegalStoppingConfig(zone="bus_stop", max_stationary_s=60, radius_px=8)
    """

    type: Literal["illegal_stopping"] = "illegal_stopping"
    zone: str = Field("zone", min_length=1, description="name of the no-stopping zone")
    classes: ClassNames = Field(["car", "bus", "truck", "motorbike"], min_length=1, description="classes checked")
    max_stationary_s: float = Field(30.0, gt=0.0, le=86400.0, description="longest allowed stop")
    radius_px: float = Field(10.0, gt=0.0, le=1000.0, description="anchor staying within this radius is stationary")



class IllegalStoppingRule(Rule):
    """One ``traffic.illegal_stopping`` hit per stop (moving away and stopping again is a new stop).

    Example::

        rule = IllegalStoppingRule(IllegalStoppingConfig(zone="no_stop", max_stationary_s=20))
    """

    key = "illegal_stopping"
    config_class = IllegalStoppingConfig
    event_type = "traffic.illegal_stopping"
    default_severity = "warning"

    def __init__(self, config: IllegalStoppingConfig) -> None:
        super().__init__(config)
        self.config: IllegalStoppingConfig = config
        self._alerted: dict[int, tuple[float, float]] = {}  # track -> where its reported stop is

    def references(self) -> dict[str, list[str]]:
        return {"zones": [self.config.zone]}

    def stationary_since(self, state: SceneState, tid: int) -> float:
        """Earliest time from which the track's anchor stayed within ``radius_px`` of where it is now."""
        h = state.history[tid]
        _, x0, y0 = h.points[-1]
        start = h.points[-1][0]
        for t, x, y in reversed(h.points):
            if (x - x0) ** 2 + (y - y0) ** 2 > self.config.radius_px**2:
                break
            start = t
        return start

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        since = state.zone_since[self.config.zone]
        self._alerted = {t: s for t, s in self._alerted.items() if t in since}
        hits = []
        for tid in sorted(state.zone_members[self.config.zone]):
            if state.history[tid].class_name not in self.config.classes or not state.history[tid].moved:
                continue  # only a vehicle seen moving before it stopped (scene hygiene, TrackHistory.moved)
            _, x, y = state.history[tid].points[-1]
            spot = self._alerted.get(tid)
            if spot is not None:
                if (x - spot[0]) ** 2 + (y - spot[1]) ** 2 <= self.config.radius_px**2:
                    continue  # this stop is already reported
                del self._alerted[tid]  # it moved on: a later stop is a new one
            start = max(self.stationary_since(state, tid), since[tid])
            if state.ts - start >= self.config.max_stationary_s:
                self._alerted[tid] = (x, y)
                hits.append(self.hit(state, tid, {"zone": self.config.zone, "stationary_s": round(state.ts - start, 2)}))
        return hits
