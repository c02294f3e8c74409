"""Analytics' wrong-way and stopping rules promoted to violations: evidence, per-class limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from analytics.rules.base import RuleHit, SceneState
from analytics.rules.traffic import IllegalStoppingConfig, IllegalStoppingRule, WrongWayConfig, WrongWayRule
from analytics.classes import ClassNames, known_classes
from analytics.rules.violations.common import MOTOR_VEHICLES, VIOLATION_EVIDENCE


class WrongWayViolationConfig(WrongWayConfig):
    """Analytics' wrong-way detection (same fields), reported as a violation with evidence.

    Example::

        WrongWayViolationConfig(lanes=["northbound"], min_distance_px=60)
    """

    type: Literal["wrong_way_violation"] = "wrong_way_violation"  # type: ignore[assignment]
    classes: ClassNames = Field(list(MOTOR_VEHICLES), min_length=1, description="classes checked")
    evidence: list[str] = Field(list(VIOLATION_EVIDENCE), max_length=8, description="evidence kinds wished for each hit")


class WrongWayViolationRule(WrongWayRule):
    """``traffic.wrong_way`` with ``violation: true`` and full evidence; detection logic is analytics'.

    Example::

        rule = WrongWayViolationRule(WrongWayViolationConfig(lanes=["left"]))
    """

    key = "wrong_way_violation"
    config_class = WrongWayViolationConfig
    default_severity = "critical"

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        hits = super().evaluate(state)
        for hit in hits:
            hit.payload["violation"] = True
        return hits


class NoStoppingConfig(IllegalStoppingConfig):
    """Stopping in a no-stopping zone longer than the limit for the vehicle's class.

    ``max_stationary_s`` is the limit for classes not in ``max_stationary_s_by_class``.

    Example::

        NoStoppingConfig(zone="cam_dung", max_stationary_s=30,
                         max_stationary_s_by_class={"bus": 120, "motorbike": 60})
    """

    type: Literal["no_stopping"] = "no_stopping"  # type: ignore[assignment]
    max_stationary_s_by_class: dict[str, float] = Field({}, description="class -> longest allowed stop, seconds")
    evidence: list[str] = Field(list(VIOLATION_EVIDENCE), max_length=8, description="evidence kinds wished for each hit")

    @field_validator("max_stationary_s_by_class")
    @classmethod
    def _limits(cls, value: dict[str, float]) -> dict[str, float]:
        value = dict(zip(known_classes(list(value)), value.values(), strict=True))
        bad = {k: v for k, v in value.items() if not 0 < v <= 86400}
        if bad:
            raise ValueError(f"stop limits must be in (0, 86400] seconds: {bad}")
        return value


class NoStoppingRule(IllegalStoppingRule):
    """``traffic.illegal_stopping`` violations with per-class limits (reuses analytics' stillness test).

    Only tracks seen moving before they stopped are considered (`TrackHistory.moved`): a
    "vehicle" standing where it was first seen is scenery or was parked before the camera
    started, and an officer cannot be shown a stop nobody saw begin.

    Example::

        rule = NoStoppingRule(NoStoppingConfig(zone="bus_stop", max_stationary_s_by_class={"bus": 90}))
    """

    key = "no_stopping"
    config_class = NoStoppingConfig

    def __init__(self, config: NoStoppingConfig) -> None:
        super().__init__(config)
        self.config: NoStoppingConfig = config

    def limit_for(self, class_name: str) -> float:
        return self.config.max_stationary_s_by_class.get(class_name, self.config.max_stationary_s)

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        zone = self.config.zone
        since = state.zone_since[zone]
        self._alerted = {t: s for t, s in self._alerted.items() if t in since}
        hits = []
        for tid in sorted(state.zone_members[zone]):
            h = state.history[tid]
            if h.class_name not in self.config.classes or not h.moved:
                continue  # a stop is a vehicle that came and stopped, not one standing since first seen
            _, x, y = h.points[-1]
            spot = self._alerted.get(tid)
            if spot is not None:
                if (x - spot[0]) ** 2 + (y - spot[1]) ** 2 <= self.config.radius_px**2:
                    continue
                del self._alerted[tid]
            start = max(self.stationary_since(state, tid), since[tid])
            limit = self.limit_for(h.class_name)
            if state.ts - start >= limit:
                self._alerted[tid] = (x, y)
                hits.append(self.hit(state, tid, {"zone": zone, "stationary_s": round(state.ts - start, 2),
                                                  "limit_s": limit, "violation": True}))
        return hits
