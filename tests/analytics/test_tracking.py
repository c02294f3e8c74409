"""The tracker in a pack of motorbikes: no identity jumps, no class-family switches."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.classes import CLASS_IDS, TRACK_FAMILIES, class_name
from analytics.detections import Detections
from analytics.detectors import YoloxConfig, build_detector
from analytics.tracking import ByteTrackConfig, GatedIoU, Tracker

MB, CAR, PED = CLASS_IDS["motorbike"], CLASS_IDS["car"], CLASS_IDS["pedestrian"]


def step(tracker: Tracker, ts: float, boxes: list[tuple[float, float, float, float]], classes: list[int]) -> dict[int, int]:
    """Feed one frame; return {input index: track id} for confirmed tracks."""
    dets = Detections(xyxy=np.array(boxes, np.float32), confidence=np.full(len(boxes), 0.9, np.float32),
                      class_id=np.array(classes))
    out = tracker.update(dets, ts)
    ids = {}
    for tid, box in zip(out.tracker_id.tolist(), out.xyxy, strict=True):
        if tid >= 0:
            ids[boxes.index(tuple(float(v) for v in np.round(box, 1)))] = tid
    return ids


def bike(x: float, y: float = 100.0, w: float = 20.0, h: float = 40.0) -> tuple[float, float, float, float]:
    return (x, y, x + w, y + h)


@pytest.mark.parametrize(
    ("case", "later", "later_cls", "same_id"),
    [
        ("steady walk on", bike(104), MB, True),
        ("a car box where the bike was", bike(102), CAR, False),
        ("the rider alone where the bike was (fusion missed the bike)", bike(104), PED, True),
        ("a box 2 sizes away (the neighbour)", bike(150), MB, False),
        ("a box ten times larger", (90.0, 40.0, 155.0, 170.0), MB, False),
    ],
)
def test_association_gates(case: str, later: tuple[float, float, float, float], later_cls: int, same_id: bool) -> None:
    tracker = Tracker(ByteTrackConfig(min_consecutive=1, lost_s=1.0))
    first = None
    for i in range(4):
        ids = step(tracker, i * 0.2, [bike(100 + i * 0.5)], [MB])
        first = first if first is not None else ids.get(0)
    assert first is not None
    ids = step(tracker, 0.8, [later], [later_cls])
    assert (ids.get(0) == first) is same_id, case


def test_gated_iou_zeroes_jumps_and_keeps_neighbours_apart() -> None:
    metric = GatedIoU(buffer_ratio=0.5, max_jump=1.0, max_scale=5.0)
    pred = np.array([bike(100)], np.float64)
    sims = metric.compute(pred, np.array([bike(101), bike(122), bike(160)], np.float64))[0]
    assert sims[0] > 0.5 and sims[1] == 0.0 and sims[2] == 0.0


def test_real_junction_tracks_never_switch_family(shared_data: Path) -> None:
    """Dense HCMC junction at its own 10 fps: every confirmed track keeps one class family."""
    detector = build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx", intra_op_threads=1))
    tracker = Tracker(ByteTrackConfig())
    cap = cv2.VideoCapture(str(shared_data / "vn" / "hcmc_junction_720p.mp4"))
    families: dict[int, set[str]] = {}
    frames = 0
    while frames < 30:
        ok, frame = cap.read()
        if not ok:
            break
        out = tracker.update(detector.detect(frame), frames / 10.0)
        for tid, cls in zip(out.tracker_id.tolist(), out.class_id.tolist(), strict=True):
            if tid >= 0:
                families.setdefault(tid, set()).add(TRACK_FAMILIES[class_name(cls)])
        frames += 1
    assert frames == 30
    assert len(families) >= 10, "the junction is dense: many confirmed tracks expected"
    assert all(len(f) == 1 for f in families.values()), {t: f for t, f in families.items() if len(f) > 1}


@pytest.mark.parametrize(("votes", "expect"), [
    ([(PED, 0.9)] * 6 + [(MB, 0.6)] * 4, "motorbike"),      # a rider whose bike was seen 4 times in 10 (31 % of the weight)
    ([(PED, 0.9)] * 9 + [(MB, 0.6)], "pedestrian"),          # one stray bike box does not make a walker a rider
    ([(CAR, 0.8)] * 3 + [(CLASS_IDS["truck"], 0.5)] * 2, "car"),
])
def test_class_vote(votes: list[tuple[int, float]], expect: str) -> None:
    from analytics.rules.base import TrackHistory

    h = TrackHistory(1, 0.0, 0.0)
    for i, (cls, conf) in enumerate(votes):
        h.add(i * 0.2, np.array([100.0, 200.0]), np.array([90, 160, 110, 200]), cls, conf)
    assert h.class_name == expect
