"""Traffic rules built on lanes and zones: wrong way, illegal stopping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from analytics.classes import VEHICLES, ClassNames
from analytics.rules.base import Rule, RuleConfigBase, RuleHit, SceneState



class WrongWayConfig(RuleConfigBase):
    """Flag tracks moving against their lane's direction, consistently and far enough.

    Over the last ``window_s`` seconds in the lane, a track is flagged when all of these hold:

    - its net movement against the lane is at least ``min_distance_px`` and at least
      ``min_box_heights`` of its own box heights (a near bike must go further than a far one);
    - at least ``min_frames`` of its steps go backward, and at least ``consistency`` of its
      moving steps do (box jitter and a stop-and-go pack are not a wrong-way rider);
    - no single step makes more than ``max_step_share`` of the distance (a track id that
      jumped to another bike is a sum of jumps, not motion);
    - its net movement points within ``max_angle_deg`` of straight against the lane (a
      rider crossing the lane diagonally is not going the wrong way).

    One alarm per real violation: a flagged track alarms once; a track that starts within
    ``merge_radius`` box heights of where an alarmed track was last seen, after it and within
    ``merge_s`` seconds, is the same rider after a tracker switch and alarms no more.

    Example::

        WrongWayConfig(lanes=["northbound"], min_distance_px=40, min_frames=5)
    """

    type: Literal["wrong_way"] = "wrong_way"
    lanes: list[str] = Field(["lane"], min_length=1, description="names of lanes in the scene")
    classes: ClassNames = Field(list(VEHICLES), min_length=1, description="classes checked")
    min_distance_px: float = Field(40.0, gt=0.0, le=10000.0, description="net distance against the lane, pixels")
    min_box_heights: float = Field(1.5, ge=0.0, le=50.0, description="net distance against the lane, in the track's box heights")
    min_frames: int = Field(5, ge=1, le=1000, description="processed frames with a backward step")
    step_px: float = Field(0.5, ge=0.0, le=100.0, description="a step shorter than this is standing still, not backward")
    window_s: float = Field(4.0, gt=0.0, le=120.0, description="seconds of the track's recent motion in the lane that are judged")
    consistency: float = Field(0.75, ge=0.0, le=1.0, description="share of the moving steps that must go backward")
    max_step_share: float = Field(0.5, gt=0.0, le=1.0, description="no single step may make more than this share of the distance")
    max_angle_deg: float = Field(
        80.0, gt=0.0, le=90.0,
        description="largest angle between the net movement and straight against the lane (the lane's direction is one "
        "vector, while perspective bends real paths by up to ~60 degrees on a highway camera)")
    merge_s: float = Field(6.0, ge=0.0, le=600.0, description="a new track this soon after an alarmed one was last seen ...")
    merge_radius: float = Field(1.5, ge=0.0, le=50.0, description="... and within this many box heights of it is the same rider")


@dataclass
class _Incident:
    """Where and when an alarmed rider was last seen, to merge the tracks it continues in."""

    track_id: int
    last_ts: float
    x: float
    y: float
    box_h: float


class WrongWayRule(Rule):
    """One ``traffic.wrong_way`` hit per rider and lane, however often its track id changes.

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
        self._incidents: dict[str, list[_Incident]] = {}
        self.merged_tracks: set[int] = set()  # tracks folded into an earlier alarm (a tracker switch)

    def references(self) -> dict[str, list[str]]:
        return {"lanes": list(self.config.lanes)}

    def against(self, points: np.ndarray, direction: np.ndarray, box_h: float) -> dict[str, float] | None:
        """The evidence that ``points`` ((t, x, y) rows) move against ``direction``, or None."""
        cfg = self.config
        if len(points) < cfg.min_frames + 1:
            return None
        steps = np.diff(points[:, 1:], axis=0)
        along = steps @ direction
        net_vec = points[-1, 1:] - points[0, 1:]
        net = -float(net_vec @ direction)  # > 0: against the lane
        if net < max(cfg.min_distance_px, cfg.min_box_heights * box_h):
            return None
        backward = along < -cfg.step_px
        moving = np.linalg.norm(steps, axis=1) > cfg.step_px
        n_back = int(backward.sum())
        if n_back < cfg.min_frames or n_back < cfg.consistency * max(int(moving.sum()), 1):
            return None
        if float(np.max(-along)) > cfg.max_step_share * net:
            return None
        cos = net / max(float(np.linalg.norm(net_vec)), 1e-9)
        if cos < np.cos(np.radians(cfg.max_angle_deg)):
            return None
        return {"distance_px": round(net, 1), "backward_frames": n_back,
                "seconds": round(float(points[-1, 0] - points[0, 0]), 2)}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        cfg = self.config
        hits = []
        for lane_name in cfg.lanes:
            lane = state.lanes[lane_name]
            since = state.lane_since[lane_name]
            incidents = self._incidents.setdefault(lane_name, [])
            self._alerted = {(n, t) for n, t in self._alerted if n != lane_name or t in since}
            # Follow every alarmed rider while it is seen; forget incidents too old to merge.
            for inc in incidents:
                h = state.history.get(inc.track_id)
                if h is not None and h.points and h.last_ts > inc.last_ts:
                    inc.last_ts, inc.x, inc.y = h.last_ts, h.points[-1][1], h.points[-1][2]
                    inc.box_h = max(h.box[3] - h.box[1], 1.0)
            incidents[:] = [i for i in incidents if state.ts - i.last_ts <= cfg.merge_s]
            for tid in sorted(state.lane_members[lane_name]):
                if (lane_name, tid) in self._alerted:
                    continue
                h = state.history[tid]
                if h.class_name not in cfg.classes:
                    continue
                start = max(since[tid], h.last_ts - cfg.window_s)
                pts = np.array([(t, x, y) for t, x, y in h.points if t >= start], dtype=np.float64).reshape(-1, 3)
                box_h = max(h.box[3] - h.box[1], 1.0)
                found = self.against(pts, lane.direction, box_h)
                if found is None:
                    continue
                self._alerted.add((lane_name, tid))
                first = next(((t, x, y) for t, x, y in h.points if t >= since[tid]), h.points[0])
                # The same rider under a new id: the new track began after the alarmed one was
                # last seen (two tracks seen at once are two riders), soon, and close to it.
                same = next((i for i in incidents if i.track_id != tid and 0.0 <= first[0] - i.last_ts <= cfg.merge_s
                             and np.hypot(first[1] - i.x, first[2] - i.y) <= cfg.merge_radius * min(i.box_h, box_h)), None)
                if same is not None:
                    self.merged_tracks.add(tid)
                    same.track_id = tid  # the rider goes on under its new id
                    continue
                incidents.append(_Incident(tid, h.last_ts, h.points[-1][1], h.points[-1][2], box_h))
                hits.append(self.hit(state, tid, {"lane": lane_name, **found}))
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
