"""The rule interface: ``Rule.evaluate(state) -> list[RuleHit]``.

A rule is a small stateful object (one per rule config per camera). The scene
analyzer calls `evaluate` once per processed frame with a `SceneState`: the tracks
of this frame, each track's recent history, which tracks are in which zone and lane
(and since when), and the line crossings of this frame. A rule returns `RuleHit`s;
the edge turns each hit into an `contract.Event` and collects the evidence it wishes.

Writing a rule (e.g. a violation rule in ``analytics/rules/violations*/``)::

    class LitterConfig(RuleConfigBase):
        type: Literal["litter"] = "litter"
        zone: str = Field("road", description="zone name")

    class LitterRule(Rule):
        key = "litter"
        config_class = LitterConfig
        event_type = "security.litter"

        def references(self):
            return {"zones": [self.config.zone]}

        def evaluate(self, state):
            return [self.hit(state, tid, payload={"zone": self.config.zone})
                    for tid in state.zone_members[self.config.zone] if state.history[tid].age > 10]

Register it by listing it in ``RULES = (LitterRule,)`` of a package
``analytics/rules/violations*/__init__.py``; `analytics.rules.registry` picks it up
and the scene config accepts ``{"type": "litter", ...}``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from analytics.classes import CLASS_IDS, class_name
from analytics.detections import Detections
from analytics.geometry import Crossing, DirectedLine, Lane, Zone
from contract import ConfigModel, Severity
from contract.envelope import EVENT_TYPE_PATTERN


class RuleConfigBase(ConfigModel):
    """Fields every rule config has; subclasses add ``type: Literal["key"]`` and their own."""

    type: str
    name: str | None = Field(None, min_length=1, max_length=64, description="label shown with its events; default: the type")
    enabled: bool = Field(True, description="disabled rules are built but never evaluated")
    severity: Severity | None = Field(None, description="override the rule's default severity")
    evidence: list[str] = Field(["overview"], max_length=8, description="evidence kinds wished for each hit: overview, crop, clip, plate")


@dataclass
class RuleHit:
    """What a rule found: becomes one event.

    ``type`` is the dotted event type, ``track_id``/``box``/``class_name`` name the
    road user (None for aggregates such as counts), ``evidence`` lists the evidence
    kinds the rule wishes the edge to attach (``overview``, ``crop``, ``clip``, ``plate``).

    Example::

        >>> hit = RuleHit(type="security.intrusion", severity="warning", ts=12.5, rule="crossing",
        ...               payload={"zone": "crossing"}, track_id=4, box=(1, 2, 30, 60), class_name="pedestrian")
        >>> hit.event_payload()["class"], hit.event_payload()["track"]
        ('pedestrian', 4)
    """

    type: str
    severity: Severity
    ts: float
    rule: str
    payload: dict[str, Any] = field(default_factory=dict)
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    class_name: str | None = None
    evidence: list[str] = field(default_factory=lambda: ["overview"])

    def __post_init__(self) -> None:
        import re

        if not re.match(EVENT_TYPE_PATTERN, self.type):
            raise ValueError(f"RuleHit.type {self.type!r} is not a dotted event type (traffic.*, security.*, count.*)")
        if self.box is not None:
            x1, y1, x2, y2 = (round(float(v), 1) for v in self.box)
            self.box = (x1, y1, x2, y2)

    def event_payload(self) -> dict[str, Any]:
        """The event payload: the rule's own fields plus ``rule``, ``track``, ``class``, ``box``."""
        out: dict[str, Any] = {"rule": self.rule}
        if self.track_id is not None:
            out["track"] = self.track_id
        if self.class_name is not None:
            out["class"] = self.class_name
        if self.box is not None:
            out["box"] = list(self.box)
        out.update(self.payload)
        return out


_PEDESTRIAN = CLASS_IDS["pedestrian"]
_TWO_WHEELERS = (CLASS_IDS["motorbike"], CLASS_IDS["bicycle"])


@dataclass
class TrackHistory:
    """What the scene remembers about one track: anchor points over time, class votes, last box,
    and whether it has ever moved.

    ``moved`` turns (and stays) True once the anchor has been further from where the track
    was first seen than ``moved_px`` and ``moved_fraction`` of the box's shorter side (so
    box jitter of a large standing object never counts). A track that never moved is
    either a vehicle that was already parked when the camera started, or scenery: an LED
    billboard read as ``bus``. The scene suppresses the events of a track still unmoved
    after minutes (`SceneConfig.static`), and stopping rules only consider tracks that
    moved before they stopped.

    Example::

        >>> h = TrackHistory(1, 0.0, 0.0)
        >>> h.add(0.0, np.array([100.0, 200.0]), np.array([80, 160, 120, 200]), 2, 0.9)
        >>> h.add(1.0, np.array([103.0, 201.0]), np.array([83, 161, 123, 201]), 2, 0.9)
        >>> h.moved, h.unmoved_s
        (False, 1.0)
        >>> h.add(2.0, np.array([130.0, 205.0]), np.array([110, 165, 150, 205]), 2, 0.9)
        >>> h.moved, h.moved_ts, h.unmoved_s
        (True, 2.0, 0.0)
    """

    track_id: int
    first_ts: float
    last_ts: float
    max_points: int = 300
    moved_px: float = 10.0
    moved_fraction: float = 0.25
    points: deque[tuple[float, float, float]] = field(default_factory=deque)  # (ts, x, y) of the anchor
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    origin: tuple[float, float] | None = None  # anchor where the track was first seen
    moved_ts: float | None = None  # when it first got away from its origin; None: never moved
    _votes: Counter[int] = field(default_factory=Counter)

    def add(self, ts: float, anchor: np.ndarray, box: np.ndarray, class_id: int, confidence: float) -> None:
        """Record one observation."""
        self.last_ts = ts
        ax, ay = float(anchor[0]), float(anchor[1])
        self.points.append((ts, ax, ay))
        while len(self.points) > self.max_points:
            self.points.popleft()
        x1, y1, x2, y2 = (float(v) for v in box)
        self.box = (x1, y1, x2, y2)
        self._votes[int(class_id)] += confidence  # detectors flip car/truck; the weighted vote is stable
        if self.origin is None:
            self.origin = (ax, ay)
        elif self.moved_ts is None:
            reach = max(self.moved_px, self.moved_fraction * min(x2 - x1, y2 - y1))
            if (ax - self.origin[0]) ** 2 + (ay - self.origin[1]) ** 2 > reach**2:
                self.moved_ts = ts

    @property
    def moved(self) -> bool:
        """True once the track has been seen moving away from where it first appeared."""
        return self.moved_ts is not None

    @property
    def unmoved_s(self) -> float:
        """Seconds the track has been seen without ever moving (0 once it has moved)."""
        return 0.0 if self.moved else self.age

    def moving(self, window_s: float, min_px: float) -> bool:
        """True when the anchor moved more than ``min_px`` over the last ``window_s`` seconds."""
        dx, dy = self.displacement(window_s)
        return bool(dx * dx + dy * dy > min_px * min_px)

    @property
    def class_id(self) -> int:
        """The class with the most confidence-weighted votes so far; a track mostly seen as
        ``pedestrian`` but at least a quarter of the time as a two-wheeler is a rider whose
        bike the model often missed: the two-wheeler wins (a walker is never boxed as a bike)."""
        if not self._votes:
            return -1
        top = self._votes.most_common(1)[0][0]
        if top == _PEDESTRIAN:
            wheels = {c: v for c, v in self._votes.items() if c in _TWO_WHEELERS}
            if wheels and sum(wheels.values()) >= 0.25 * sum(self._votes.values()):
                return max(wheels, key=wheels.__getitem__)
        return top

    @property
    def class_name(self) -> str:
        return class_name(self.class_id)

    @property
    def age(self) -> float:
        """Seconds between first and last observation."""
        return self.last_ts - self.first_ts

    def displacement(self, since_s: float | None = None) -> np.ndarray:
        """Anchor movement (dx, dy) over the last ``since_s`` seconds (all history when None)."""
        if len(self.points) < 2:
            return np.zeros(2)
        pts = self.points
        first = pts[0]
        if since_s is not None:
            for p in pts:
                if p[0] >= self.last_ts - since_s:
                    first = p
                    break
        last = pts[-1]
        return np.array([last[1] - first[1], last[2] - first[2]])


@dataclass
class SceneState:
    """Everything a rule may look at for one processed frame.

    ``tracks`` holds confirmed tracks only (``tracker_id >= 0``); ``zone_members`` and
    ``lane_members`` map a zone/lane name to the track ids inside it now, and
    ``zone_since`` / ``lane_since`` to when each of them entered; ``crossings`` are
    this frame's line crossings; ``frame`` is the BGR image (for colour checks such
    as a traffic light), or None when the caller did not pass it.
    """

    ts: float
    frame_index: int
    frame_shape: tuple[int, int]
    tracks: Detections
    history: dict[int, TrackHistory]
    zones: dict[str, Zone]
    lines: dict[str, DirectedLine]
    lanes: dict[str, Lane]
    zone_members: dict[str, set[int]]
    zone_since: dict[str, dict[int, float]]
    lane_members: dict[str, set[int]]
    lane_since: dict[str, dict[int, float]]
    crossings: list[Crossing]
    ended: set[int] = field(default_factory=set)
    frame: np.ndarray | None = None

    def index_of(self, track_id: int) -> int | None:
        """Row of ``track_id`` in ``tracks``, or None when it is not visible this frame."""
        rows = np.flatnonzero(self.tracks.tracker_id == track_id)
        return int(rows[0]) if len(rows) else None


class Rule(ABC):
    """One rule instance: built from its config, evaluated once per processed frame.

    Subclasses set ``key`` (the config ``type``), ``config_class``, ``event_type``
    and ``default_severity``, implement `evaluate`, and list the zones/lines/lanes
    they need in `references` so a scene with a typo fails at load time.

    Example::

        rule = LoiteringRule(LoiteringConfig(zone="crossing", dwell_s=10))
        hits = rule.evaluate(state)    # [RuleHit(type="security.loitering", ...)]
    """

    key: ClassVar[str] = "abstract"
    config_class: ClassVar[type[RuleConfigBase]] = RuleConfigBase
    event_type: ClassVar[str] = "security.abstract"
    default_severity: ClassVar[Severity] = "warning"

    def __init__(self, config: RuleConfigBase) -> None:
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    @property
    def name(self) -> str:
        """The label of this rule instance (config ``name`` or its type)."""
        return self.config.name or self.config.type

    @property
    def severity(self) -> Severity:
        return self.config.severity or self.default_severity

    def references(self) -> dict[str, list[str]]:
        """Names this rule needs: ``{"zones": [...], "lines": [...], "lanes": [...]}``."""
        return {}

    @abstractmethod
    def evaluate(self, state: SceneState) -> list[RuleHit]:
        """Hits for this frame (usually empty)."""

    def hit(self, state: SceneState, track_id: int | None, payload: dict[str, Any], event_type: str | None = None) -> RuleHit:
        """A `RuleHit` for ``track_id`` with its current box and voted class filled in."""
        box = cls = None
        if track_id is not None and track_id in state.history:
            h = state.history[track_id]
            box, cls = h.box, h.class_name
        return RuleHit(
            type=event_type or self.event_type,
            severity=self.severity,
            ts=state.ts,
            rule=self.name,
            payload=payload,
            track_id=track_id,
            box=box,
            class_name=cls,
            evidence=list(self.config.evidence),
        )
