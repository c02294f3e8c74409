"""Security rules on zones: intrusion (class filter, schedule), loitering, crowding."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from analytics.classes import ClassNames
from analytics.rules.base import Rule, RuleConfigBase, RuleHit, SceneState
from contract import ConfigModel



class TimeWindow(ConfigModel):
    """A daily time window; ``end`` before ``start`` spans midnight (22:00-06:00).

    Example::

        TimeWindow(start="22:00", end="06:00", days=[0, 1, 2, 3, 4])
    """

    start: dt.time = Field(dt.time(0, 0), description="local time the window opens")
    end: dt.time = Field(dt.time(23, 59, 59), description="local time the window closes")
    days: list[int] = Field([0, 1, 2, 3, 4, 5, 6], min_length=1, max_length=7, description="weekdays, 0 = Monday")

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return value

    def contains(self, local: dt.datetime) -> bool:
        """Is ``local`` inside the window (the day of a window spanning midnight is its opening day)?"""
        t = local.time()
        if self.start <= self.end:
            return local.weekday() in self.days and self.start <= t <= self.end
        if t >= self.start:
            return local.weekday() in self.days
        return t <= self.end and (local.weekday() - 1) % 7 in self.days


class ZoneIntrusionConfig(RuleConfigBase):
    """Alert when a track of ``classes`` enters ``zone`` during the schedule.

    Example::

        ZoneIntrusionConfig(zone="yard", classes=["pedestrian"], schedule=[TimeWindow(start="22:00", end="06:00")])
    """

    type: Literal["zone_intrusion"] = "zone_intrusion"
    zone: str = Field("zone", min_length=1, description="name of a zone in the scene")
    classes: ClassNames = Field(["pedestrian"], min_length=1, description="classes that intrude")
    min_dwell_s: float = Field(0.0, ge=0.0, le=3600.0, description="inside this long before the alert (filters grazing boxes)")
    schedule: list[TimeWindow] = Field([], max_length=32, description="when the rule is armed; empty = always")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="IANA zone of the schedule; frame ts are UTC epoch seconds")


    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ZoneIntrusionRule(Rule):
    """One ``security.intrusion`` hit per track and stay in the zone while armed.

    Example::

        rule = ZoneIntrusionRule(ZoneIntrusionConfig(zone="crossing", classes=["pedestrian"]))
    """

    key = "zone_intrusion"
    config_class = ZoneIntrusionConfig
    event_type = "security.intrusion"
    default_severity = "warning"

    def __init__(self, config: ZoneIntrusionConfig) -> None:
        super().__init__(config)
        self.config: ZoneIntrusionConfig = config
        self._tz = ZoneInfo(config.timezone)
        self._alerted: set[int] = set()

    def references(self) -> dict[str, list[str]]:
        return {"zones": [self.config.zone]}

    def armed(self, ts: float) -> bool:
        """Is the schedule open at epoch time ``ts``?"""
        if not self.config.schedule:
            return True
        local = dt.datetime.fromtimestamp(ts, tz=self._tz)
        return any(w.contains(local) for w in self.config.schedule)

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        since = state.zone_since[self.config.zone]
        self._alerted &= set(since)  # a track that left may intrude again
        if not self.armed(state.ts):
            return []
        hits = []
        for tid in sorted(state.zone_members[self.config.zone] - self._alerted):
            if state.history[tid].class_name not in self.config.classes:
                continue
            if state.ts - since[tid] < self.config.min_dwell_s:
                continue
            self._alerted.add(tid)
            hits.append(self.hit(state, tid, {"zone": self.config.zone}))
        return hits


class LoiteringConfig(RuleConfigBase):
    """Alert when a track of ``classes`` stays in ``zone`` longer than ``dwell_s``.

    Example::

        LoiteringConfig(zone="atm", dwell_s=60)
    """

    type: Literal["loitering"] = "loitering"
    zone: str = Field("zone", min_length=1, description="name of a zone in the scene")
    classes: ClassNames = Field(["pedestrian"], min_length=1, description="classes watched")
    dwell_s: float = Field(30.0, gt=0.0, le=86400.0, description="seconds inside the zone that count as loitering")



class LoiteringRule(Rule):
    """One ``security.loitering`` hit per track and stay once its dwell passes ``dwell_s``.

    Example::

        rule = LoiteringRule(LoiteringConfig(zone="crossing", dwell_s=3))
    """

    key = "loitering"
    config_class = LoiteringConfig
    event_type = "security.loitering"
    default_severity = "warning"

    def __init__(self, config: LoiteringConfig) -> None:
        super().__init__(config)
        self.config: LoiteringConfig = config
        self._alerted: set[int] = set()

    def references(self) -> dict[str, list[str]]:
        return {"zones": [self.config.zone]}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        since = state.zone_since[self.config.zone]
        self._alerted &= set(since)
        hits = []
        for tid in sorted(state.zone_members[self.config.zone] - self._alerted):
            dwell = state.ts - since[tid]
            if dwell >= self.config.dwell_s and state.history[tid].class_name in self.config.classes:
                self._alerted.add(tid)
                hits.append(self.hit(state, tid, {"zone": self.config.zone, "dwell_s": round(dwell, 2)}))
        return hits


class CrowdingConfig(RuleConfigBase):
    """Alert when more than ``max_count`` tracks of ``classes`` are in ``zone`` for ``min_duration_s``.

    Example::

        CrowdingConfig(zone="square", max_count=20, min_duration_s=10)
    """

    type: Literal["crowding"] = "crowding"
    zone: str = Field("zone", min_length=1, description="name of a zone in the scene")
    classes: ClassNames = Field(["pedestrian"], min_length=1, description="classes counted")
    max_count: int = Field(10, ge=0, le=10000, description="more than this many is a crowd")
    min_duration_s: float = Field(2.0, ge=0.0, le=3600.0, description="the crowd must last this long")
    cooldown_s: float = Field(60.0, ge=0.0, le=86400.0, description="no second alert for this long")



class CrowdingRule(Rule):
    """A ``security.crowding`` hit for the zone (no single track), box = union of the crowd.

    Example::

        rule = CrowdingRule(CrowdingConfig(zone="crossing", max_count=3, min_duration_s=1))
    """

    key = "crowding"
    config_class = CrowdingConfig
    event_type = "security.crowding"
    default_severity = "warning"

    def __init__(self, config: CrowdingConfig) -> None:
        super().__init__(config)
        self.config: CrowdingConfig = config
        self._over_since: float | None = None
        self._last_alert: float | None = None

    def references(self) -> dict[str, list[str]]:
        return {"zones": [self.config.zone]}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        members = sorted(t for t in state.zone_members[self.config.zone] if state.history[t].class_name in self.config.classes)
        if len(members) <= self.config.max_count:
            self._over_since = None
            return []
        if self._over_since is None:
            self._over_since = state.ts
        if state.ts - self._over_since < self.config.min_duration_s:
            return []
        if self._last_alert is not None and state.ts - self._last_alert < self.config.cooldown_s:
            return []
        self._last_alert = state.ts
        boxes = [state.history[t].box for t in members]
        hit = self.hit(state, None, {"zone": self.config.zone, "count": len(members), "tracks": members})
        hit.box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        return [hit]
