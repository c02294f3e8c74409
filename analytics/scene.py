"""`SceneAnalyzer`: tracker + geometry + rules for one camera.

Example::

    scene = SceneAnalyzer(SceneConfig.model_validate({
        "zones": [{"name": "crossing", "polygon": [[120, 200], [460, 200], [470, 260], [100, 260]]}],
        "lines": [{"name": "gate", "start": [0, 400], "end": [1280, 400]}],
        "rules": [
            {"type": "zone_intrusion", "zone": "crossing", "classes": ["pedestrian"]},
            {"type": "line_count", "line": "gate", "interval_s": 60},
        ],
    }))
    result = scene.process(frame, ts=time.time(), detections=detector.detect(frame))
    result.tracks.tracker_id, [h.type for h in result.hits]    # [3, 5], ['security.intrusion']

Scene hygiene, all here so every rule gets it the same way: detections whose anchor lies
in an ``ignore`` mask are dropped before tracking (a billboard, a TV wall, the road of the
next junction); a track that has never moved for ``static.after_s`` is scenery and raises
no events; `SceneResult.moving` names the tracks moving now (the edge keeps its motion gate
open while there are any).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from analytics.detections import Detections
from analytics.exceptions import FrameError
from analytics.geometry import Crossing, DirectedLine, Lane, LaneConfig, LineConfig, Zone, ZoneConfig
from analytics.rules.base import Rule, RuleHit, SceneState, TrackHistory
from analytics.rules.registry import RuleConfig, build_rule
from analytics.tracking import ByteTrackConfig, Tracker
from contract import ConfigModel


class IgnoreMaskConfig(ZoneConfig):
    """A polygon (frame pixels, like zones) whose detections are dropped before tracking.

    A detection is dropped when its anchor point (the bottom centre by default, as zones
    test it) is inside.

    Example::

        IgnoreMaskConfig(name="billboard", polygon=[(900, 40), (1260, 40), (1260, 260), (900, 260)])
    """

    name: str = Field("mask", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="label")


class StaticConfig(ConfigModel):
    """Static-object suppression: a track that has never moved for ``after_s`` is scenery.

    "Moved" means its anchor got further from where it was first seen than ``moved_px``
    and ``moved_fraction`` of its box's shorter side. Scenery raises no events (an LED
    billboard read as ``bus`` is not an intrusion, a stop or a crowd); once it moves it is
    a road user again. The scene remembers where scenery stood for ``remember_s``: the
    detector loses a billboard whenever its picture changes, and the track it gets when
    found again is scenery from its first frame, not after another ``after_s``.

    Example::

        StaticConfig(after_s=300, moved_px=12)
    """

    enabled: bool = Field(True, description="suppress the events of tracks that never moved")
    after_s: float = Field(180.0, ge=1.0, le=86400.0, description="seconds without ever moving after which a track is scenery")
    moved_px: float = Field(10.0, ge=0.0, le=1000.0, description="anchor distance from its first position that counts as moving")
    moved_fraction: float = Field(0.25, ge=0.0, le=5.0, description="... and at least this fraction of the box's shorter side")
    remember_s: float = Field(600.0, ge=0.0, le=86400.0, description="a new track appearing on scenery seen this "
                              "recently (IoU >= spot_iou) is scenery at once: a flickering billboard gets new track ids")
    spot_iou: float = Field(0.5, gt=0.0, le=1.0, description="overlap with remembered scenery that makes a new track scenery")


class SceneConfig(ConfigModel):
    """Zones, lines, lanes and rules of one camera view, plus tracker settings.

    Names must be unique per kind, and every zone/line/lane a rule names must exist.

    Example::

        SceneConfig(zones=[ZoneConfig(name="yard", polygon=[(0, 0), (50, 0), (50, 50)])],
                    rules=[LoiteringConfig(zone="yard", dwell_s=30)])
    """

    zones: list[ZoneConfig] = Field([], max_length=64, description="polygon zones")
    lines: list[LineConfig] = Field([], max_length=64, description="directed counting lines")
    lanes: list[LaneConfig] = Field([], max_length=64, description="lanes with a travel direction")
    rules: list[RuleConfig] = Field([], max_length=128, description="rules, each chosen by its `type`")  # type: ignore[valid-type]
    ignore: list[IgnoreMaskConfig] = Field([], max_length=64, description="masks whose detections are dropped before tracking")
    static: StaticConfig = Field(default_factory=StaticConfig, description="static-object (scenery) suppression")
    moving_px: float = Field(4.0, gt=0.0, le=500.0, description="a track whose anchor moved more than this over "
                             "`moving_window_s` is moving now (keeps the motion gate open)")
    moving_fraction: float = Field(0.1, ge=0.0, le=5.0, description="... and more than this fraction of its box's "
                                   "shorter side (the jitter of a large standing box is not motion)")
    moving_window_s: float = Field(1.0, gt=0.0, le=30.0, description="window of `moving_px`")
    tracker: ByteTrackConfig = Field(default_factory=ByteTrackConfig)
    zone_grace_s: float = Field(1.0, ge=0.0, le=60.0, description="a track missing from a zone this briefly keeps its dwell time")
    history_s: float = Field(60.0, ge=1.0, le=3600.0, description="seconds of anchor history kept per track")
    track_end_s: float = Field(3.0, ge=0.1, le=600.0, description="a track unseen this long has ended (its state is dropped)")

    @model_validator(mode="after")
    def _consistent(self) -> SceneConfig:
        if self.zone_grace_s >= self.track_end_s:
            raise ValueError(f"zone_grace_s ({self.zone_grace_s}) must be shorter than track_end_s ({self.track_end_s})")
        for kind in ("zones", "lines", "lanes"):
            names = [item.name for item in getattr(self, kind)]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind[:-1]} names: {dupes}")
        for i, rule_cfg in enumerate(self.rules):
            for kind, wanted in build_rule(rule_cfg).references().items():
                have = {item.name for item in getattr(self, kind)}
                missing = [w for w in wanted if w not in have]
                if missing:
                    raise ValueError(f"rules[{i}] ({rule_cfg.type}) names {kind} {missing} that the scene does not define; defined: {sorted(have)}")
        return self


@dataclass
class SceneResult:
    """Output of one processed frame: confirmed tracks, rule hits, line crossings.

    ``ignored`` counts the detections dropped by ignore masks, ``scenery`` names tracks
    that never moved for ``static.after_s`` (their hits are in ``suppressed``, not ``hits``),
    ``moving`` the tracks moving now.
    """

    tracks: Detections
    hits: list[RuleHit]
    crossings: list[Crossing] = field(default_factory=list)
    ignored: int = 0
    scenery: set[int] = field(default_factory=set)
    moving: set[int] = field(default_factory=set)
    suppressed: list[RuleHit] = field(default_factory=list)


class SceneAnalyzer:
    """Runs tracker, geometry and rules over the frames of one camera.

    Call `process` with increasing timestamps (seconds; capture time). Frames may be
    skipped (5 fps of a 30 fps camera): the tracker and rules work in seconds.

    Example::

        scene = SceneAnalyzer(SceneConfig(lines=[LineConfig(name="gate", start=(0, 300), end=(1280, 300))],
                                          rules=[LineCountConfig(line="gate", interval_s=60)]))
        for ts, frame in frames:
            result = scene.process(frame, ts, detector.detect(frame))
            for hit in result.hits:
                print(hit.type, hit.event_payload())
    """

    def __init__(self, config: SceneConfig) -> None:
        self.config = config
        self.tracker = Tracker(config.tracker)
        self.zones = {z.name: Zone(z) for z in config.zones}
        self.lines = {ln.name: DirectedLine(ln) for ln in config.lines}
        self.lanes = {ln.name: Lane(ln) for ln in config.lanes}
        self.rules: list[Rule] = [build_rule(r) for r in config.rules]
        self.masks = [Zone(ZoneConfig(name=m.name, polygon=m.polygon, anchor=m.anchor)) for m in config.ignore]
        self.history: dict[int, TrackHistory] = {}
        self._spots: list[tuple[np.ndarray, float]] = []  # (box, last seen) of scenery, remembered for remember_s
        self._born_scenery: set[int] = set()  # tracks that appeared on a remembered spot
        self._zone_since: dict[str, dict[int, float]] = {n: {} for n in self.zones}
        self._zone_seen: dict[str, dict[int, float]] = {n: {} for n in self.zones}
        self._lane_since: dict[str, dict[int, float]] = {n: {} for n in self.lanes}
        self._lane_seen: dict[str, dict[int, float]] = {n: {} for n in self.lanes}
        self._frame_index = 0
        self._last_ts: float | None = None

    def _membership(self, areas: Mapping[str, Zone], since: dict[str, dict[int, float]], seen: dict[str, dict[int, float]], tracks: Detections, ts: float) -> dict[str, set[int]]:
        members: dict[str, set[int]] = {}
        for name, area in areas.items():
            inside = tracks.tracker_id[area.contains(tracks)].tolist()
            members[name] = set(inside)
            for tid in inside:
                since[name].setdefault(tid, ts)
                seen[name][tid] = ts
            for tid in [t for t, last in seen[name].items() if ts - last > self.config.zone_grace_s]:
                del seen[name][tid]
                del since[name][tid]
        return members

    def process(self, frame: np.ndarray | None, ts: float, detections: Detections) -> SceneResult:
        """Track ``detections`` (from ``frame``, taken at ``ts``) and evaluate every rule."""
        if not math.isfinite(ts):
            raise ValueError(f"timestamp must be a finite number of seconds, got {ts}")
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(f"timestamps must increase: got {ts} after {self._last_ts}")
        if frame is not None and (not isinstance(frame, np.ndarray) or frame.ndim != 3):
            raise FrameError(f"frame must be an HxWx3 array or None, got {getattr(frame, 'shape', type(frame))}")
        self._last_ts = ts
        self._frame_index += 1
        detections, ignored = self.drop_ignored(detections)
        tracked = self.tracker.update(detections, ts)
        tracks = tracked[tracked.tracker_id >= 0]

        anchors = tracks.anchors("bottom_center")
        horizon = max(2, int(self.config.history_s * 30))
        for i, tid in enumerate(tracks.tracker_id.tolist()):
            h = self.history.get(tid)
            if h is None:
                h = self.history[tid] = TrackHistory(tid, ts, ts, max_points=horizon, moved_px=self.config.static.moved_px,
                                                     moved_fraction=self.config.static.moved_fraction)
                if self._on_spot(tracks.xyxy[i], ts):
                    self._born_scenery.add(tid)
            h.add(ts, anchors[i], tracks.xyxy[i], int(tracks.class_id[i]), float(tracks.confidence[i]))
        ended = {tid for tid, h in self.history.items() if ts - h.last_ts > self.config.track_end_s}
        for tid in ended:
            del self.history[tid]
            self._born_scenery.discard(tid)
        for line in self.lines.values():
            line.forget(ended)

        crossings = [c for line in self.lines.values() for c in line.update(tracks, ts)]
        zone_members = self._membership(self.zones, self._zone_since, self._zone_seen, tracks, ts)
        lane_members = self._membership(self.lanes, self._lane_since, self._lane_seen, tracks, ts)
        state = SceneState(
            ts=ts,
            frame_index=self._frame_index,
            frame_shape=(int(frame.shape[0]), int(frame.shape[1])) if frame is not None else (0, 0),
            tracks=tracks,
            history=self.history,
            zones=self.zones,
            lines=self.lines,
            lanes=self.lanes,
            zone_members=zone_members,
            zone_since=self._zone_since,
            lane_members=lane_members,
            lane_since=self._lane_since,
            crossings=crossings,
            ended=ended,
            frame=frame,
        )
        hits = [hit for rule in self.rules if rule.config.enabled for hit in rule.evaluate(state)]
        visible = tracks.tracker_id.tolist()
        scenery = self.scenery()
        self._remember(tracks, scenery, ts)
        kept = [h for h in hits if h.track_id not in scenery]
        suppressed = [h for h in hits if h.track_id in scenery]
        cfg = self.config
        moving = {tid for tid in visible if tid not in scenery and self._moving(self.history[tid])}
        return SceneResult(tracks=tracks, hits=kept, crossings=crossings, ignored=ignored, scenery=scenery,
                           moving=moving, suppressed=suppressed)

    def _moving(self, h: TrackHistory) -> bool:
        x1, y1, x2, y2 = h.box
        reach = max(self.config.moving_px, self.config.moving_fraction * min(x2 - x1, y2 - y1))
        return h.moving(self.config.moving_window_s, reach)

    def drop_ignored(self, detections: Detections) -> tuple[Detections, int]:
        """``detections`` without those whose anchor lies in an ignore mask, and how many were dropped."""
        if not self.masks or len(detections) == 0:
            return detections, 0
        inside = np.zeros(len(detections), dtype=bool)
        for mask in self.masks:
            inside |= mask.contains(detections)
        return (detections[~inside], int(inside.sum())) if inside.any() else (detections, 0)

    def scenery(self, track_ids: list[int] | None = None) -> set[int]:
        """Tracks (of ``track_ids``, default all remembered) that are scenery: never moved for
        ``static.after_s``, or appeared where scenery stood and have not moved since."""
        cfg = self.config.static
        if not cfg.enabled:
            return set()
        ids = self.history.keys() if track_ids is None else track_ids
        return {tid for tid in ids if tid in self.history and not self.history[tid].moved
                and (self.history[tid].unmoved_s >= cfg.after_s or tid in self._born_scenery)}

    def _on_spot(self, box: np.ndarray, ts: float) -> bool:
        cfg = self.config.static
        return cfg.enabled and any(_iou(box, spot) >= cfg.spot_iou for spot, seen in self._spots
                                   if ts - seen <= cfg.remember_s)

    def _remember(self, tracks: Detections, scenery: set[int], ts: float) -> None:
        cfg = self.config.static
        if not cfg.enabled or cfg.remember_s <= 0:
            return
        self._spots = [(b, seen) for b, seen in self._spots if ts - seen <= cfg.remember_s]
        for tid, box in zip(tracks.tracker_id.tolist(), tracks.xyxy):
            if tid not in scenery:
                continue
            same = next((k for k, (b, _) in enumerate(self._spots) if _iou(box, b) >= cfg.spot_iou), None)
            if same is None:
                self._spots.append((np.asarray(box, np.float64).copy(), ts))
            else:
                self._spots[same] = (self._spots[same][0], ts)

    def zone_dwell(self, zone: str) -> dict[int, float]:
        """Seconds each track now in ``zone`` (or briefly missing, within the grace) has been inside it."""
        if zone not in self._zone_since:
            raise KeyError(f"no zone {zone!r}; zones: {sorted(self._zone_since)}")
        now = self._last_ts if self._last_ts is not None else 0.0
        return {tid: now - since for tid, since in self._zone_since[zone].items()}

    def flush(self) -> list[RuleHit]:
        """Close open aggregates (line counts) at the last timestamp, e.g. when a file ends."""
        if self._last_ts is None:
            return []
        return [hit for rule in self.rules if hasattr(rule, "flush") for hit in rule.flush(self._last_ts)]


def scene_regions(config: SceneConfig) -> list[np.ndarray]:
    """The polygons where a camera's rules look (lanes, zones, lines as two-point segments), in
    frame pixels: what scene tiling covers with resolution."""
    out = [np.asarray(z.polygon, np.float64) for z in config.zones]
    out += [np.asarray(lane.polygon, np.float64) for lane in config.lanes]
    out += [np.asarray([line.start, line.end], np.float64) for line in config.lines]
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
