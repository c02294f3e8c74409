"""Violation rules on the real highway video (YOLOX-Nano detections, ByteTrack tracks).

Traffic on this US freeway keeps to its carriageway (left carriageway towards the
camera, right one away), stays inside its yellow edge lines and drives at freeway
speed: so every rule has a real must-not-fire case here, and wrong way and speeding
fire when the configuration (not the video) says the traffic is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.rules.base import RuleHit
from analytics.scene import SceneAnalyzer, SceneConfig

# Road-plane calibration measured on the first frame: the right carriageway's yellow edge
# line and first dashed lane line, at the tops of two consecutive dashes (US standard
# 40 ft = 12.19 m period); lane width from the dash spacing across (12 ft lanes).
CALIBRATION = {
    "id": "highway-720p-2026-11",
    "image_points": [(787, 356), (900, 356), (1109, 572), (904, 572)],
    "world_points": [(0, 12.19), (3.30, 12.19), (3.30, 0), (0, 0)],
}
LANES = [
    {"name": "left_cw", "polygon": [(480, 140), (600, 140), (320, 720), (0, 720), (0, 360)], "direction": (0, 1)},
    {"name": "right_cw", "polygon": [(690, 140), (800, 140), (1280, 360), (1280, 720), (970, 720)], "direction": (0, -1)},
]
LINES = [
    {"name": "speed_a", "start": (0, 620), "end": (1280, 620)},
    {"name": "speed_b", "start": (0, 400), "end": (1280, 400)},
    # the solid yellow edge lines along the median, in the near field where boxes are reliable
    {"name": "yellow_left", "start": (569, 250), "end": (321, 720)},
    {"name": "yellow_right", "start": (730, 250), "end": (984, 720)},
]


@pytest.fixture(scope="module")
def highway_detections(highway_10fps) -> list[tuple[float, Detections]]:
    """(ts, detections) of the session-cached 10 fps detections (tests/analytics/conftest.py)."""
    return [(ts, dets) for _index, ts, dets in highway_10fps.frames]


def run(detections: list[tuple[float, Detections]], rules: list[dict]) -> tuple[SceneAnalyzer, list[RuleHit]]:
    scene = SceneAnalyzer(SceneConfig.model_validate({"lanes": LANES, "lines": LINES, "rules": rules}))
    hits: list[RuleHit] = []
    for ts, dets in detections:
        hits += scene.process(None, ts, dets).hits
    return scene, hits


def test_wrong_way_must_not_fire_on_real_traffic(highway_detections) -> None:
    _, hits = run(highway_detections, [{"type": "wrong_way_violation", "lanes": ["left_cw", "right_cw"]}])
    assert hits == []


def test_wrong_way_fires_when_a_carriageway_is_one_way_the_other_way(highway_detections) -> None:
    """Declare the right carriageway as driving towards the camera: its real traffic is then wrong-way."""
    lanes = [LANES[0], {**LANES[1], "direction": (0, 1)}]
    scene = SceneAnalyzer(SceneConfig.model_validate({"lanes": lanes, "lines": LINES, "rules": [
        {"type": "wrong_way_violation", "lanes": ["left_cw", "right_cw"]}]}))
    hits = [h for ts, d in highway_detections for h in scene.process(None, ts, d).hits]
    assert len(hits) >= 5
    assert {h.payload["lane"] for h in hits} == {"right_cw"}
    assert len({h.track_id for h in hits}) == len(hits)  # one violation per vehicle
    h = hits[0]
    assert h.type == "traffic.wrong_way" and h.severity == "critical" and h.payload["violation"] is True
    assert h.evidence == ["overview", "plate", "clip"] and h.box is not None


@pytest.mark.parametrize("limit_kmh, tolerance, expect_hits", [(80, 5, True), (140, 5, False), (120, 20, False)])
def test_speeding_on_real_traffic(highway_detections, limit_kmh: float, tolerance: float, expect_hits: bool) -> None:
    scene, hits = run(highway_detections, [{
        "type": "speeding", "lines": ["speed_a", "speed_b"], "calibration": CALIBRATION,
        "default_limit_kmh": limit_kmh, "tolerance_kmh": tolerance}])
    speeds = [m["speed_kmh"] for m in scene.rules[0].measurements]
    # A freeway (70 mph = 113 km/h limit): the calibration puts real cars at freeway speeds.
    assert len(speeds) >= 8
    assert 95 <= float(np.median(speeds)) <= 125
    assert max(speeds) < 140 and min(speeds) > 80
    if expect_hits:
        assert len(hits) == len(speeds)
        h = hits[0]
        assert h.type == "traffic.speeding" and h.payload["calibration_id"] == "highway-720p-2026-11"
        assert h.payload["speed_kmh"] > 85 and h.payload["limit_kmh"] == 80
        assert 8 < h.payload["segment_m"] < 12 and h.payload["lines"] == ["speed_a", "speed_b"]
    else:
        assert hits == []


def test_speeding_limits_per_class(highway_detections) -> None:
    """A car limit above every measured car: only the other classes (none here at speed) could fire."""
    _, hits = run(highway_detections, [{
        "type": "speeding", "lines": ["speed_a", "speed_b"], "calibration": CALIBRATION,
        "default_limit_kmh": 50, "limits_kmh": {"car": 150}}])
    assert all(h.class_name != "car" for h in hits)


def test_solid_line_must_not_fire_on_real_traffic(highway_detections) -> None:
    _, hits = run(highway_detections, [{"type": "solid_line", "lines": ["yellow_left", "yellow_right"]}])
    assert hits == []


ZONES = [{"name": "left_cw_zone", "polygon": LANES[0]["polygon"]}]


@pytest.mark.parametrize("forbidden, fires", [(["motorbike"], False), (["car", "truck", "bus"], True)])
def test_lane_restriction_on_real_traffic(highway_detections, forbidden: list[str], fires: bool) -> None:
    """The left carriageway declared a motorbike-only road: its real cars are in a lane not allowed for them."""
    scene = SceneAnalyzer(SceneConfig.model_validate({"zones": ZONES, "rules": [
        {"type": "lane_restriction", "zone": "left_cw_zone", "forbidden_classes": forbidden, "min_dwell_s": 1.0}]}))
    hits = [h for ts, d in highway_detections for h in scene.process(None, ts, d).hits]
    if not fires:
        assert hits == []
        return
    assert len(hits) >= 3 and len({h.track_id for h in hits}) == len(hits)
    for h in hits:
        assert h.type == "traffic.lane_violation" and h.class_name in forbidden
        assert h.payload["dwell_s"] >= 1.0 and h.payload["travel_px"] >= 40


def test_no_stopping_must_not_fire_on_moving_traffic(highway_detections) -> None:
    scene = SceneAnalyzer(SceneConfig.model_validate({"zones": ZONES, "rules": [
        {"type": "no_stopping", "zone": "left_cw_zone", "max_stationary_s": 1.0}]}))
    assert [h for ts, d in highway_detections for h in scene.process(None, ts, d).hits] == []
