"""Fixtures for analytics tests: one YOLOX session and per-video detections cached per test session.

Videos are decoded and detected once (at the rate given) and shared by every test
that needs them, so the real-video tests stay fast on a 2-core machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.detections import Detections
from analytics.detectors.config import YoloxConfig
from analytics.detectors.yolox import YoloxDetector


@dataclass
class VideoDetections:
    """Detections of every ``step``-th frame of a video: (frame index, ts seconds, Detections)."""

    path: Path
    fps: float
    step: int
    shape: tuple[int, int]
    frames: list[tuple[int, float, Detections]]


def detect_video(detector: YoloxDetector, path: Path, step: int) -> VideoDetections:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cannot open {path}"
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    out: list[tuple[int, float, Detections]] = []
    shape = (0, 0)
    index = 0
    try:
        while True:
            if index % step:
                if not cap.grab():  # skip decoding into BGR for frames we do not detect on
                    break
                index += 1
                continue
            ok, frame = cap.read()
            if not ok:
                break
            shape = frame.shape[:2]
            out.append((index, index / fps, detector.detect(frame)))
            index += 1
    finally:
        cap.release()
    return VideoDetections(path, fps, step, shape, out)


@pytest.fixture(scope="session")
def yolox(shared_data: Path) -> YoloxDetector:
    """The real YOLOX-Nano model, one thread (the CI machine has 2 shared cores)."""
    return YoloxDetector(YoloxConfig(model=shared_data / "yolox_nano.onnx", confidence=0.3, intra_op_threads=1))


_HIGHWAY: dict[int, VideoDetections] = {}


def highway_at(yolox: YoloxDetector, shared_data: Path, step: int) -> VideoDetections:
    """highway_720p.mp4 detected on every ``step``-th frame, once per test session."""
    if step not in _HIGHWAY:
        _HIGHWAY[step] = detect_video(yolox, shared_data / "highway_720p.mp4", step=step)
    return _HIGHWAY[step]


@pytest.fixture(scope="session")
def highway_10fps(yolox: YoloxDetector, shared_data: Path) -> VideoDetections:
    """highway_720p.mp4 detected at 10 fps (every 3rd frame of 30)."""
    return highway_at(yolox, shared_data, 3)


@pytest.fixture(scope="session")
def street_10fps(yolox: YoloxDetector, shared_data: Path) -> VideoDetections:
    """street_crossing_320p.mp4 detected at 10 fps."""
    return detect_video(yolox, shared_data / "street_crossing_320p.mp4", step=3)


def read_frame(path: Path, index: int) -> np.ndarray:
    """One decoded frame of a video."""
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok, f"cannot read frame {index} of {path}"
    return frame
