"""Line counts per class and direction, emitted as ``count.line`` aggregates every N seconds."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field

from analytics.classes import ROAD_USERS, ClassNames
from analytics.rules.base import Rule, RuleConfigBase, RuleHit, SceneState



class LineCountConfig(RuleConfigBase):
    """Count tracks crossing ``line`` per class and direction.

    Example::

        LineCountConfig(line="gate", classes=["car", "truck", "bus"], interval_s=60)
    """

    type: Literal["line_count"] = "line_count"
    line: str = Field("line", min_length=1, description="name of a line in the scene")
    classes: ClassNames = Field(list(ROAD_USERS), min_length=1, description="classes counted (track's voted class)")
    interval_s: float = Field(60.0, ge=1.0, le=86400.0, description="one count.line aggregate per this many seconds")
    emit_empty: bool = Field(True, description="also emit windows in which nothing crossed (a flat KPI line is data)")
    evidence: list[str] = Field([], max_length=8, description="aggregates carry no evidence by default")



class LineCountRule(Rule):
    """Counts crossings and emits one ``count.line`` hit per window.

    ``totals`` holds all counts since start, keyed ``(direction, class)``.

    Example::

        rule = LineCountRule(LineCountConfig(line="gate", interval_s=60))
        hits = rule.evaluate(state)        # a count.line hit when a window closes
        rule.totals[("in", "car")]         # running total
    """

    key = "line_count"
    config_class = LineCountConfig
    event_type = "count.line"
    default_severity = "info"

    def __init__(self, config: LineCountConfig) -> None:
        super().__init__(config)
        self.config: LineCountConfig = config
        self.totals: Counter[tuple[str, str]] = Counter()
        self._window: Counter[tuple[str, str]] = Counter()
        self._window_start: float | None = None
        self._counted: set[tuple[int, str]] = set()

    def references(self) -> dict[str, list[str]]:
        return {"lines": [self.config.line]}

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        if self._window_start is None:
            self._window_start = state.ts
        if state.ended:  # keep the once-per-direction memory bounded on a camera that runs for months
            self._counted = {(t, d) for t, d in self._counted if t not in state.ended}
        for c in state.crossings:
            if c.line != self.config.line:
                continue
            cls = state.history[c.track_id].class_name if c.track_id in state.history else None
            if cls not in self.config.classes or (c.track_id, c.direction) in self._counted:
                continue
            self._counted.add((c.track_id, c.direction))  # a track counts once per direction
            self._window[(c.direction, cls)] += 1
            self.totals[(c.direction, cls)] += 1
        if state.ts - self._window_start >= self.config.interval_s:
            return self.flush(state.ts)
        return []

    def flush(self, ts: float) -> list[RuleHit]:
        """Close the current window now (shutdown, end of a file) and return its aggregate."""
        start = self._window_start if self._window_start is not None else ts
        counts: dict[str, dict[str, int]] = {}
        for (direction, cls), n in sorted(self._window.items()):
            counts.setdefault(direction, {})[cls] = n
        total = sum(self._window.values())
        self._window.clear()
        self._window_start = ts
        if total == 0 and not self.config.emit_empty:
            return []
        payload = {"line": self.config.line, "window_start": start, "window_s": round(ts - start, 3), "counts": counts, "total": total}
        return [
            RuleHit(type=self.event_type, severity=self.severity, ts=ts, rule=self.name, payload=payload, evidence=list(self.config.evidence))
        ]
