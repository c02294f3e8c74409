"""The motion gate never skips a frame while a track moves, on a real clip: the pipeline
(`FrameAnalyzer`) tells the gate after each frame how many tracks move.

The clip is the Vietnamese junction camera with light traffic, a quiet scene; the gate's
pixel threshold is set so high that pixels alone would skip nearly every frame, as they
do for a rider moving slowly through a quiet night scene."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from analytics.detections import Detections
from analytics.detectors import Detector, MotionGateConfig, YoloxConfig, build_detector
from analytics.detectors.motion import GatedDetector
from edge.config import CameraConfig
from edge.pipeline import Cadence, FrameAnalyzer
from video import Frame

CLIP = "vn/junction_red_light_screenrec.mp4"
T0 = datetime(2025, 1, 6, 1, 0, tzinfo=timezone.utc)


class Recording(Detector):
    """The real model, noting which frames it was run on."""

    kind = "yolox"

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.ran_on: set[int] = set()
        self.index = -1

    def detect(self, frame: np.ndarray) -> Detections:
        self.ran_on.add(self.index)
        return self.inner.detect(frame)


class Sink:
    def emit(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture(scope="module")
def model(shared_data: Path) -> Detector:
    return build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx", intra_op_threads=1))


def _run(model: Detector, shared_data: Path, feedback: bool, frames: int = 300) -> tuple[list[tuple[int, set[int]]], Recording, GatedDetector]:
    rec = Recording(model)
    gated = GatedDetector(rec, MotionGateConfig(enabled=True, min_area_fraction=0.2, refresh_s=30.0))
    camera = CameraConfig(id="cam-j", unit="1", url="x.mp4", detect_fps=5.0)
    analyzer = FrameAnalyzer(camera, gated, Sink())
    if not feedback:
        analyzer._tell_gate = None  # the pipeline before issue 14: the gate only looked at pixels
    cap = cv2.VideoCapture(str(shared_data / CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cadence = Cadence(camera.detect_fps)
    now = [0.0]
    gated.clock = lambda: now[0]
    moving_before: list[tuple[int, set[int]]] = []
    previous: set[int] = set()
    try:
        for index in range(frames):
            ok, image = cap.read()
            assert ok
            t = index / fps
            if not cadence.due(t)[0]:
                continue
            now[0] = t
            rec.index = index
            result = analyzer.analyse(Frame.from_array(image, ts=T0 + timedelta(seconds=t), mono=t, index=index))
            moving_before.append((index, previous))
            previous = set(result.moving)
    finally:
        cap.release()
    return moving_before, rec, gated


def test_gate_runs_every_frame_while_a_track_moves(model: Detector, shared_data: Path) -> None:
    frames, rec, gated = _run(model, shared_data, feedback=True)
    moving_frames = [i for i, moving in frames if moving]
    assert len(moving_frames) >= 10, "the clip must have moving road users"
    skipped_while_moving = [i for i, moving in frames if moving and i not in rec.ran_on]
    assert skipped_while_moving == []
    assert gated.held >= 10  # frames the pixels alone would have skipped
    # and it still saves work when nothing moves
    assert gated.skipped == len([i for i, moving in frames if not moving and i not in rec.ran_on])


def test_feedback_figures(model: Detector, shared_data: Path) -> None:
    """The frames the fed-back gate ran because tracks moved are frames the pixel-only gate skipped."""
    with_fb, rec_fb, gated_fb = _run(model, shared_data, feedback=True)
    _, rec_px, gated_px = _run(model, shared_data, feedback=False)
    moving = {i for i, m in with_fb if m}
    skipped_by_pixels = moving - rec_px.ran_on
    print(f"analysed {len(with_fb)}, with moving tracks {len(moving)}; pixel-only gate skipped {len(skipped_by_pixels)} "
          f"of them (ran {gated_px.ran}, skipped {gated_px.skipped}); fed-back gate ran {gated_fb.ran} "
          f"(held open {gated_fb.held}), skipped {gated_fb.skipped}")
    assert len(skipped_by_pixels) >= 0.8 * len(moving)
    assert moving <= rec_fb.ran_on
