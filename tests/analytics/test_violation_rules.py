"""Violation rules on scripted tracks over real frames: stopping per class, solid line, lane
restriction, the no-helmet classifier slot (with a real ONNX classifier), calibration checks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

import rapidocr_onnxruntime
from analytics.detections import Detections
from analytics.rules.violations import CalibrationConfig, NoHelmetConfig, NoHelmetRule, RoadPlane
from analytics.rules.violations.exceptions import ModelError
from analytics.rules.violations.speed import crossing_point
from analytics.scene import SceneAnalyzer, SceneConfig
from tests.analytics.conftest import VideoDetections, read_frame

CLS = {"pedestrian": 0, "car": 2, "motorbike": 3, "bus": 5, "truck": 7}
FPS = 10.0


def track(boxes_by_time: dict[str, callable], duration_s: float, rule: dict, scene_extra: dict,
          frame: np.ndarray | None = None) -> list:
    """Run scripted objects ``name -> f(t) -> (class, box) | None`` through a real scene."""
    scene = SceneAnalyzer(SceneConfig.model_validate({**scene_extra, "rules": [rule]}))
    hits = []
    for i in range(int(duration_s * FPS)):
        t = i / FPS
        objs = [o for f in boxes_by_time.values() if (o := f(t)) is not None]
        dets = Detections(xyxy=np.array([b for _, b in objs], np.float32).reshape(-1, 4),
                          confidence=np.full(len(objs), 0.9), class_id=[CLS[c] for c, _ in objs])
        hits += scene.process(frame, t, dets).hits
    return hits


def parked(cls: str, x: float, y: float, arrive: float, leave: float, jitter: float = 1.5):
    """A vehicle that drives in, stands (box jitter as a detector gives), and drives off."""
    rng = np.random.default_rng(int(x))

    def at(t: float):
        if t < arrive - 2 or t > leave + 2:
            return None
        dx = 0.0 if arrive <= t <= leave else 40.0 * (t - arrive if t < arrive else t - leave)
        j = rng.normal(0, jitter, 2)
        return cls, (x + dx + j[0], y - 50 + j[1], x + dx + 80 + j[0], y + j[1])
    return at


NO_STOP_ZONE = {"zones": [{"name": "no_stop", "polygon": [(0, 150), (576, 150), (576, 320), (0, 320)]}]}


@pytest.mark.parametrize("cls, stand_s, fires", [
    ("car", 40, True),         # over the 30 s car limit
    ("car", 20, False),        # a short stop: allowed
    ("bus", 40, False),        # buses may stand 90 s (bus stop)
    ("bus", 100, True),
    ("pedestrian", 100, False),    # not a vehicle class
])
def test_no_stopping_per_class(cls: str, stand_s: float, fires: bool) -> None:
    hits = track({"v": parked(cls, 200, 260, arrive=3, leave=3 + stand_s)}, stand_s + 8,
                 {"type": "no_stopping", "zone": "no_stop", "max_stationary_s": 30,
                  "max_stationary_s_by_class": {"bus": 90}}, NO_STOP_ZONE)
    assert len(hits) == int(fires)
    if fires:
        h = hits[0]
        assert h.type == "traffic.illegal_stopping" and h.payload["violation"] is True
        assert h.payload["limit_s"] == (90 if cls == "bus" else 30)
        assert h.evidence == ["overview", "plate", "clip"]


def test_no_stopping_must_not_fire_on_the_street_video(street_10fps: VideoDetections) -> None:
    """Traffic passing through (and a handheld, panning camera) is never a stop."""
    scene = SceneAnalyzer(SceneConfig.model_validate({
        "zones": [{"name": "street", "polygon": [(0, 120), (576, 120), (576, 320), (0, 320)]}],
        "rules": [{"type": "no_stopping", "zone": "street", "max_stationary_s": 2}]}))
    hits = [h for _, ts, d in street_10fps.frames for h in scene.process(None, ts, d).hits]
    assert hits == []


def mover(cls: str, start: tuple[float, float], velocity: tuple[float, float], t0: float, t1: float, w=70, h=45):
    def at(t: float):
        if not t0 <= t <= t1:
            return None
        x = start[0] + velocity[0] * (t - t0)
        y = start[1] + velocity[1] * (t - t0)
        return cls, (x - w / 2, y - h, x + w / 2, y)
    return at


SOLID = {"lines": [{"name": "solid", "start": (288, 0), "end": (288, 320)}]}


@pytest.mark.parametrize("velocity, classes, fires", [
    ((30, -5), None, True),          # drifts across the solid line: violation
    ((2, -40), None, False),         # drives along it without crossing
    ((30, -5), ["truck"], False),    # only trucks checked
])
def test_solid_line_scripted(velocity, classes, fires: bool) -> None:
    rule = {"type": "solid_line", "lines": ["solid"], **({"classes": classes} if classes else {})}
    hits = track({"car": mover("car", (200, 300), velocity, 0, 6)}, 7, rule, SOLID)
    assert len(hits) == int(fires)
    if fires:
        assert hits[0].type == "traffic.solid_line" and hits[0].payload == {"line": "solid", "direction": "out"}


MOTORBIKE_LANE = {"zones": [{"name": "xe_may", "polygon": [(0, 0), (150, 0), (150, 320), (0, 320)]}]}


@pytest.mark.parametrize("obj, fires", [
    (mover("car", (75, 320), (0, -40), 0, 7), True),             # a car driving up the motorbike lane
    (mover("motorbike", (75, 320), (0, -40), 0, 7), False),     # a motorbike: allowed
    (mover("car", (40, 250), (60, -2), 0, 7), False),            # a car cutting across it to turn
])
def test_lane_restriction_scripted(obj, fires: bool) -> None:
    hits = track({"o": obj}, 8, {"type": "lane_restriction", "zone": "xe_may",
                                  "forbidden_classes": ["car", "bus", "truck"]}, MOTORBIKE_LANE)
    assert len(hits) == int(fires)
    if fires:
        assert hits[0].type == "traffic.lane_violation" and hits[0].class_name == "car"


# ---------------------------------------------------------------- no helmet slot

CLS_MODEL = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def helmet_config(**over) -> dict:
    # The slot takes any (1,3,H,W) -> (1,K) classifier. No helmet model ships, so this test
    # plugs in RapidOCR's real text-orientation classifier (K=2: upright, upside down) and
    # calls "upside down" the positive class: what is tested is the slot, the rider-head
    # crops, the votes and the hit, with a real ONNX model.
    return {"type": "no_helmet", "model": str(CLS_MODEL), "input_size": (48, 192), "channel_order": "bgr",
            "apply_softmax": False, "no_helmet_index": 1, "threshold": 0.8, "votes": 3,
            "check_every_s": 0.2, "head_fraction": 0.25, **over}


def rider_scene(frame: np.ndarray, upside_down: bool) -> tuple[np.ndarray, dict]:
    """A motorbike and its rider (scripted boxes) with a text 'head' painted where the rule looks."""
    bike, person = (200, 220, 400, 300), (200, 100, 400, 240)
    rule = NoHelmetRule(NoHelmetConfig.model_validate(helmet_config()))
    from analytics.rules.base import SceneState  # the rule computes the head box from the boxes
    state = SceneState(ts=0, frame_index=0, frame_shape=frame.shape[:2],
                       tracks=Detections(xyxy=[person, bike], class_id=[0, 3], tracker_id=[1, 2]),
                       history={}, zones={}, lines={}, lanes={}, zone_members={}, zone_since={},
                       lane_members={}, lane_since={}, crossings=[])
    x1, y1, x2, y2 = rule.head_box(state, np.asarray(bike, np.float32))
    patch = np.full((y2 - y1, x2 - x1, 3), 255, np.uint8)
    cv2.putText(patch, "NO HELMET", (4, int((y2 - y1) * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                (x2 - x1) / 190, (0, 0, 0), 2)
    if upside_down:
        patch = cv2.rotate(patch, cv2.ROTATE_180)
    out = frame.copy()
    out[y1:y2, x1:x2] = patch
    return out, {"bike": mover("motorbike", (300, 300), (0, 0), 0, 5, w=200, h=80),
                 "rider": mover("pedestrian", (300, 240), (0, 0), 0, 5, w=200, h=140)}


@pytest.fixture(scope="module")
def street_frame(shared_data: Path) -> np.ndarray:
    return read_frame(shared_data / "street_crossing_320p.mp4", 10)


@pytest.mark.parametrize("upside_down, fires", [(True, True), (False, False)])
def test_no_helmet_slot_with_a_real_onnx_classifier(street_frame, upside_down: bool, fires: bool) -> None:
    frame, objs = rider_scene(street_frame, upside_down)
    hits = track(objs, 4, helmet_config(), {}, frame=frame)
    assert len(hits) == int(fires)
    if fires:
        h = hits[0]
        assert h.type == "traffic.no_helmet" and h.class_name == "motorbike"
        assert h.payload["votes"] == 3 and h.payload["no_helmet_p"] >= 0.8


def test_no_helmet_is_off_without_a_model(street_frame) -> None:
    frame, objs = rider_scene(street_frame, True)
    config = NoHelmetConfig()
    assert config.model is None and not NoHelmetRule(config).active
    assert track(objs, 3, {"type": "no_helmet"}, {}, frame=frame) == []


def test_no_helmet_missing_model_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        NoHelmetRule(NoHelmetConfig(model=tmp_path / "nope.onnx"))


# ---------------------------------------------------------------- calibration

def test_homography_maps_the_calibration_points() -> None:
    cal = CalibrationConfig(id="c1", image_points=[(787, 356), (900, 356), (1109, 572), (904, 572)],
                            world_points=[(0, 12.19), (3.3, 12.19), (3.3, 0), (0, 0)])
    plane = RoadPlane(cal)
    np.testing.assert_allclose(plane.to_world(cal.image_points), cal.world_points, atol=1e-3)


@pytest.mark.parametrize("image_points", [
    [(0, 0), (100, 0), (200, 0), (50, 80)],     # three on one line
    [(0, 0), (0, 0), (100, 100), (0, 100)],     # a repeated point
])
def test_degenerate_calibration_is_refused(image_points) -> None:
    with pytest.raises(ValidationError, match="one line"):
        CalibrationConfig(id="bad", image_points=image_points, world_points=[(0, 0), (3, 0), (3, 10), (0, 10)])


def test_crossing_time_is_interpolated_between_frames() -> None:
    times = np.array([0.0, 0.2, 0.4])
    path = np.array([[0.0, 0.0], [0.0, 5.0], [0.0, 10.0]])
    t, p = crossing_point(times, path, np.array([-1.0, 7.5]), np.array([1.0, 7.5]))
    assert t == pytest.approx(0.3) and p[1] == pytest.approx(7.5)


def test_unknown_rule_type_fails_at_load() -> None:
    with pytest.raises(ValidationError, match="red_lite"):
        SceneConfig.model_validate({"rules": [{"type": "red_lite"}]})


def test_rule_naming_a_missing_line_fails_at_load() -> None:
    with pytest.raises(ValidationError, match="stop_line"):
        SceneConfig.model_validate({"rules": [{"type": "red_light", "stop_line": "stop_line",
                                               "signal": {"source": "external", "signal_id": "x"}}]})


# ---------------------------------------------------------------- speed accuracy on a known motion

HIGHWAY_CAL = {"id": "c-known", "image_points": [(787, 356), (900, 356), (1109, 572), (904, 572)],
               "world_points": [(0, 12.19), (3.3, 12.19), (3.3, 0), (0, 0)]}


@pytest.mark.parametrize("true_kmh, fps", [
    (40.0, 5.0), (40.0, 10.0), (72.0, 10.0), (110.0, 10.0), (72.0, 15.0), (110.0, 30.0), (150.0, 30.0),
])
def test_speed_of_a_known_motion(true_kmh: float, fps: float) -> None:
    """A car driven at a known speed on the road plane, projected into the image through the
    calibration, measured at several frame rates: the interpolated crossings keep the error small.
    (At 5 fps a car at 72 km/h moves more than its own box length between frames this close to
    the camera and no IoU tracker follows it: speeding cameras need 10 fps or more.)"""
    plane = RoadPlane(CalibrationConfig.model_validate(HIGHWAY_CAL))
    inverse = np.linalg.inv(plane.matrix)
    v = true_kmh / 3.6

    def image_point(world_y: float) -> tuple[float, float]:
        p = inverse @ np.array([1.6, world_y, 1.0])  # the middle of the lane, world_y metres up the road
        return p[0] / p[2], p[1] / p[2]

    scene = SceneAnalyzer(SceneConfig.model_validate({
        "lines": [{"name": "a", "start": (0, 620), "end": (1280, 620)}, {"name": "b", "start": (0, 400), "end": (1280, 400)}],
        "rules": [{"type": "speeding", "lines": ["a", "b"], "calibration": HIGHWAY_CAL, "default_limit_kmh": 30}]}))
    world_y, t, hits = -8.0, 0.0, []
    rng = np.random.default_rng(7)
    while world_y < 25.0:
        x, y = image_point(world_y)
        x, y = x + rng.normal(0, 1.5), y + rng.normal(0, 1.5)  # detector box jitter
        w = 90.0 * (y - 102) / 300  # box size shrinks towards the vanishing point
        dets = Detections(xyxy=[[x - w / 2, y - w * 0.6, x + w / 2, y]], confidence=[0.9], class_id=[2])
        hits += scene.process(None, t, dets).hits
        t += 1.0 / fps
        world_y += v / fps
    assert len(hits) == 1
    measured = hits[0].payload["speed_kmh"]
    assert measured == pytest.approx(true_kmh, rel=0.05)
