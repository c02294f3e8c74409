"""Wrong way on real Vietnamese footage: silent with the lanes' true directions, and with one
lane's direction flipped, (nearly) every motorbike of that lane flagged, each exactly once.

Lanes were drawn by hand on frames of each clip; their directions are what the traffic
does there (checked by looking at the clips: Đà Nẵng's left carriageway comes towards the
camera and its right one goes away; the HCMC junction's left road comes towards it and its
right half goes away; the red-light approach goes away from the camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.detections import Detections
from analytics.detectors import YoloxConfig, build_detector
from analytics.scene import SceneAnalyzer, SceneConfig


@dataclass(frozen=True)
class Clip:
    file: str
    step: int  # analyse every step-th frame (the edge's detect_fps)
    skip: int  # frames at the start to leave out (a hand-held camera settling)
    lanes: dict[str, tuple[list[tuple[int, int]], tuple[float, float]]]


CLIPS = {
    "danang": Clip("danang_lanes_480p.mp4", 6, 120, {
        "towards": ([(0, 300), (330, 190), (378, 190), (388, 480), (0, 480)], (-0.55, 0.83)),
        "away": ([(398, 190), (445, 190), (854, 330), (854, 480), (400, 480)], (-0.75, -0.66)),
    }),
    "junction": Clip("hcmc_junction_720p.mp4", 2, 0, {
        "towards": ([(430, 90), (640, 90), (640, 720), (100, 720), (280, 330)], (-0.3, 0.95)),
        "away": ([(650, 90), (800, 90), (1280, 500), (1280, 720), (650, 720)], (-0.55, -0.83)),
    }),
    "red_light": Clip("junction_red_light_screenrec.mp4", 6, 0, {
        "approach": ([(500, 135), (1500, 135), (1500, 720), (500, 720)], (0.0, -1.0)),
    }),
}
_DETECTIONS: dict[str, list[tuple[float, Detections]]] = {}


def detections(shared_data: Path, name: str) -> list[tuple[float, Detections]]:
    """(ts, detections) of the analysed frames of a clip with the product's default detector, once."""
    if name not in _DETECTIONS:
        clip = CLIPS[name]
        detector = build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx", intra_op_threads=2))
        cap = cv2.VideoCapture(str(shared_data / "vn" / clip.file))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        out, i = [], 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i >= clip.skip and i % clip.step == 0:
                out.append((i / fps, detector.detect(frame)))
            i += 1
        assert out, f"no frames read from {clip.file}"
        _DETECTIONS[name] = out
    return _DETECTIONS[name]


def run(shared_data: Path, name: str, flip: str | None) -> tuple[SceneAnalyzer, list, dict]:
    clip = CLIPS[name]
    lanes = [{"name": n, "polygon": poly, "direction": tuple(-v for v in d) if n == flip else d}
             for n, (poly, d) in clip.lanes.items()]
    config = SceneConfig.model_validate({"lanes": lanes, "rules": [
        {"type": "wrong_way", "lanes": list(clip.lanes), "classes": ["motorbike", "bicycle", "car", "bus", "truck"]}]})
    scene = SceneAnalyzer(config)
    hits, history = [], {}
    for ts, dets in detections(shared_data, name):
        hits += scene.process(None, ts, dets).hits
        history.update(scene.history)  # the scene forgets ended tracks; the test keeps them
    return scene, hits, history


def eligible_motorbikes(shared_data: Path, name: str, lane: str) -> set[int]:
    """Motorbike tracks that really travelled along ``lane``: at least 6 analysed points in it
    and a net movement along its true direction of 1.5 box heights and 40 px."""
    clip = CLIPS[name]
    _, _, history = run(shared_data, name, None)
    poly, d = clip.lanes[lane]
    direction = np.asarray(d) / np.hypot(*d)
    contour = np.asarray(poly, np.float32)
    out = set()
    for tid, h in history.items():
        if h.class_name != "motorbike":
            continue
        pts = np.array([(x, y) for _, x, y in h.points if cv2.pointPolygonTest(contour, (x, y), False) >= 0])
        if len(pts) < 6:
            continue
        if float((pts[-1] - pts[0]) @ direction) >= max(40.0, 1.5 * (h.box[3] - h.box[1])):
            out.add(tid)
    return out


@pytest.mark.parametrize("name", list(CLIPS))
def test_no_alarm_with_the_true_directions(shared_data: Path, name: str) -> None:
    _, hits, _ = run(shared_data, name, None)
    assert hits == [], [(h.track_id, h.class_name, h.payload) for h in hits]


@pytest.mark.parametrize(("name", "lane"), [("danang", "towards"), ("danang", "away"), ("junction", "towards"),
                                            ("junction", "away"), ("red_light", "approach")])
def test_flipped_lane_flags_its_motorbikes_once(shared_data: Path, name: str, lane: str) -> None:
    scene, hits, _ = run(shared_data, name, lane)
    assert all(h.payload["lane"] == lane for h in hits), "only the flipped lane may alarm"
    flagged = [h.track_id for h in hits if h.class_name == "motorbike"]
    assert len(flagged) == len(set(flagged)), "one alarm per rider"
    eligible = eligible_motorbikes(shared_data, name, lane)
    assert eligible, "the lane has motorbikes that travel along it"
    caught = eligible & (set(flagged) | scene.rules[0].merged_tracks)
    assert len(caught) >= 0.9 * len(eligible), (sorted(eligible - caught), len(eligible))
