"""A violation's plate read per track: the violation frame and the frame ring's nearest frames.

Real phone video of a parked scooter (``vn/plate_closeup_61B2.mp4``, plate ``61-B2 267.15``)
stands in for the camera: its frames go through a `FrameRing` as a camera's would.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.plates.reader import PlateCandidate, PlateReading, RapidOCRPlateReader
from analytics.rules.base import RuleHit
from analytics.scene import SceneConfig
from edge.evidence.packager import CameraInfo, EvidenceConfig
from edge.evidence.violations import ViolationEvidence, read_plate_track
from video.frame import Frame
from video.ring import FrameRing

CAMERA = CameraInfo(id="cam-bd-01", name="Bãi xe", place="Phường Thủ Dầu Một, TP.HCM", unit="25747")
SCENE = SceneConfig.model_validate({"lines": [{"name": "stop", "start": (0, 500), "end": (320, 500)}]})
T0 = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


def _hit(ts: float, box: tuple[float, float, float, float]) -> RuleHit:
    return RuleHit(type="traffic.red_light", severity="warning", ts=ts, rule="red_light",
                   payload={"line": "stop", "signal": "red", "signal_for_s": 1.0}, track_id=3, box=box,
                   class_name="motorbike", evidence=["overview", "plate", "clip"])


def test_violation_plate_is_read_over_the_ring(shared_data: Path, tmp_path: Path) -> None:
    cap = cv2.VideoCapture(str(shared_data / "vn" / "plate_closeup_61B2.mp4"))
    ring = FrameRing(seconds=10, fps=5)
    violations = ViolationEvidence(tmp_path, "edge-bd-01", EvidenceConfig(clip_after_s=1.0), plate_reader=RapidOCRPlateReader())
    box = (0.0, 0.0, 320.0, 576.0)  # the scooter fills the portrait frame
    done, submitted = [], False
    for i in range(90):
        ok, image = cap.read()
        assert ok
        frame = Frame.from_array(image, ts=T0 + timedelta(seconds=i / 30), mono=i / 30, index=i)
        ring.add(frame)
        if i == 45:
            submitted = violations.submit(_hit(frame.ts.timestamp(), box), frame, CAMERA, SCENE, ring=ring)
        done += violations.poll(frame.mono)
    cap.release()
    done += violations.poll(3.0, force=True)
    assert submitted and len(done) == 1
    payload = done[0].payload
    assert payload["plate"] == "61-B2 267.15"
    assert payload["plate_frames"] >= 3 and 1 <= payload["plate_frames_agreed"] <= payload["plate_frames"]
    assert done[0].package.signed.manifest.plate.text == "61-B2 267.15"


class _Scripted:
    """A reader that returns one prepared reading per call (frames that disagree)."""

    def __init__(self, readings: list[PlateReading]) -> None:
        self.readings = list(readings)

    def read(self, crop: np.ndarray) -> PlateReading:
        return self.readings.pop(0)


def _reading(text: str, conf: float) -> PlateReading:
    rows = [[[(c, conf)] for c in "51F-123.45"]] if text.startswith("51F") else [[[(c, conf)] for c in "30A-456.78"]]
    return PlateReading(text=text, confidence=conf, candidates=[PlateCandidate(text, conf)],
                        quad=np.array([[1, 1], [9, 1], [9, 5], [1, 5]], np.float32), row_chars=rows)


def test_read_plate_track_keeps_the_best_frame_and_counts_agreement() -> None:
    images = [np.zeros((60, 100, 3), np.uint8) for _ in range(3)]
    boxes = [(10.0, 10.0, 90.0, 50.0)] * 3
    reader = _Scripted([_reading("51F-123.45", 0.9), _reading("51F-123.45", 0.99), _reading("51F-123.45", 0.95)])
    evidence, best, read, agreed = read_plate_track(reader, images, boxes)
    assert evidence.text == "51F-123.45" and (best, read, agreed) == (1, 3, 3)
    assert evidence.box == (11.0, 11.0, 19.0, 15.0)  # the plate box in the best frame's pixels
    # one frame of another plate: the fused plate is still read, but only two frames agree
    reader = _Scripted([_reading("51F-123.45", 0.99), _reading("30A-456.78", 0.3), _reading("51F-123.45", 0.98)])
    evidence, best, read, agreed = read_plate_track(reader, images, boxes)
    assert (evidence.text, read, agreed) == ("51F-123.45", 3, 2)
    assert evidence.confidence < 0.99 * 0.98  # the disagreeing frame pulls the confidence down
