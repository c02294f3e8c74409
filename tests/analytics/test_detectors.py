"""Detectors on real images: YOLOX ONNX, tiling, motion detector and gate, config union."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from analytics.detections import Detections
from analytics.detectors import DetectorConfig, MotionConfig, MotionGateConfig, TilingConfig, YoloxConfig, build_detector
from analytics.detectors.motion import GatedDetector, MotionDetector
from analytics.detectors.fusion import RoadUserDetector
from analytics.detectors.tiling import TiledDetector, merge_detections, tile_grid
from analytics.detectors.yolox import PAD_VALUE, YoloxDetector
from analytics.exceptions import FrameError, ModelError
from tests.analytics.conftest import read_frame


def test_yolox_finds_the_bicycle_and_the_truck(yolox: YoloxDetector, shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    dets = yolox.detect(image)
    names = dets.class_names
    assert "bicycle" in names and ({"truck", "car"} & set(names))
    assert "dog" not in names and set(names) <= {"pedestrian", "bicycle", "car", "motorbike", "bus", "truck"}
    bike = dets[np.array(names) == "bicycle"]
    x1, y1, x2, y2 = bike.xyxy[0]
    # the bicycle spans the lower left of the 768x576 picture
    assert x1 < 150 and x2 > 450 and y1 > 80 and y2 > 350 and bike.confidence[0] > 0.5
    assert (dets.xyxy[:, 2] <= image.shape[1]).all() and (dets.xyxy[:, 3] <= image.shape[0]).all()
    assert yolox.info == {"kind": "yolox", "model": "yolox_nano.onnx"}


def test_yolox_model_facts(yolox: YoloxDetector) -> None:
    # The published YOLOX-Nano export has a fixed batch of 1: detect_batch runs frames one by one.
    assert yolox.batch_capable is False and yolox.input_hw == (416, 416)
    assert yolox.providers[-1] == "CPUExecutionProvider"  # CUDA is asked for first, skipped when absent
    assert yolox.session.get_session_options().intra_op_num_threads == 1
    frames = [np.full((200, 300, 3), v, np.uint8) for v in (0, 128)]
    assert [len(d) for d in yolox.detect_batch(frames)] == [0, 0]


def test_letterbox_is_top_left_with_pad_114(yolox: YoloxDetector) -> None:
    frame = np.zeros((208, 416, 3), np.uint8)  # half height: image on top, padding below
    tensor, scale = yolox.preprocess(frame)
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32 and scale == 1.0
    assert (tensor[0, :, :208] == 0).all() and (tensor[0, :, 208:] == PAD_VALUE).all()


@pytest.mark.parametrize(
    "frame",
    [np.zeros((100, 100), np.uint8), np.zeros((100, 100, 3), np.float32), np.zeros((4, 4, 3), np.uint8), "not a frame"],
)
def test_bad_frames_are_refused(yolox: YoloxDetector, frame: object) -> None:
    with pytest.raises(FrameError):
        yolox.detect(frame)  # type: ignore[arg-type]


def test_missing_or_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        YoloxDetector(YoloxConfig(model=tmp_path / "nope.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match="cannot load"):
        YoloxDetector(YoloxConfig(model=bad))


def test_wrong_input_size_for_a_fixed_model(shared_data: Path) -> None:
    with pytest.raises(ModelError, match="416x416"):
        YoloxDetector(YoloxConfig(model=shared_data / "yolox_nano.onnx", input_size=(640, 640)))


def test_no_usable_provider(shared_data: Path) -> None:
    with pytest.raises(ModelError, match="none of the providers"):
        YoloxDetector(YoloxConfig(model=shared_data / "yolox_nano.onnx", providers=["NoSuchExecutionProvider"]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "ssd"}, "does not match any of the expected tags"),
        ({"type": "yolox", "classes": ["dog"]}, "unknown classes"),
        ({"type": "yolox", "input_size": [400, 400]}, "multiples of 32"),
        ({"type": "yolox", "confidence": 2}, "less than or equal"),
        ({"type": "yolox", "threads": 2}, "Extra inputs are not permitted"),
        ({"type": "motion", "min_area": 0}, "greater than or equal"),
    ],
)
def test_detector_config_errors(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TypeAdapter(DetectorConfig).validate_python(data)


def test_build_detector_wraps_tiling_and_gate(shared_data: Path) -> None:
    cfg = TypeAdapter(DetectorConfig).validate_python(
        {"type": "yolox", "model": str(shared_data / "yolox_nano.onnx"), "tiling": {"enabled": True}, "gate": {"enabled": True}}
    )
    det = build_detector(cfg)
    assert isinstance(det, GatedDetector) and isinstance(det.inner, RoadUserDetector)
    assert isinstance(det.inner.inner, TiledDetector) and det.info["kind"] == "yolox"
    assert isinstance(build_detector(MotionConfig()), MotionDetector)


def test_tile_grid_covers_the_frame_with_overlap() -> None:
    tiles = tile_grid(1280, 720, 2, 3, 0.2)
    assert len(tiles) == 6
    assert min(t[0] for t in tiles) == 0 and max(t[2] for t in tiles) == 1280
    assert min(t[1] for t in tiles) == 0 and max(t[3] for t in tiles) == 720
    # neighbours overlap by about 20 % of a tile width
    (a, b) = sorted(tiles[:3])[:2]
    assert 0.15 < (a[2] - b[0]) / (a[2] - a[0]) < 0.25


def test_merge_prefers_whole_boxes_over_boxes_cut_by_a_tile_edge() -> None:
    dets = Detections(
        xyxy=[[100, 100, 140, 160], [100, 100, 130, 160], [300, 100, 340, 160], [100, 100, 140, 160]],
        confidence=[0.6, 0.9, 0.8, 0.7],
        class_id=[3, 3, 3, 0],  # last: same place, other class -> kept
    )
    cut = np.array([False, True, False, False])
    merged = merge_detections(dets, cut, iou_thr=0.5, ios_thr=0.7)
    assert merged.xyxy[:, 2].tolist() == [140, 340, 140] and merged.class_id.tolist() == [3, 3, 0]


def test_tiling_finds_small_vehicles_the_full_frame_misses(shared_data: Path) -> None:
    """Recall of the hand-labelled vehicles of highway frame 300 (labels and how: bench/edge_detector.py)."""
    from bench.edge_detector import FRAME_INDEX, LABELS, MATCH_IOU, SMALL_PX, iou_matrix

    frame = read_frame(shared_data / "highway_720p.mp4", FRAME_INDEX)
    labels = np.asarray(LABELS, dtype=np.float32)
    small = (labels[:, 2] - labels[:, 0]) <= SMALL_PX
    base = YoloxDetector(YoloxConfig(model=shared_data / "yolox_nano.onnx", confidence=0.25))

    def found(dets: Detections) -> np.ndarray:
        return iou_matrix(labels, dets.xyxy).max(1) >= MATCH_IOU

    plain = found(base.detect(frame))
    tiled_dets = TiledDetector(base, TilingConfig(enabled=True)).detect(frame)
    tiled = found(tiled_dets)
    assert small.sum() >= 15
    assert plain[small].mean() <= 0.2 and tiled[small].mean() >= plain[small].mean() + 0.3
    assert tiled[~small].all()  # the near vehicles stay found (the full-frame pass keeps them whole)
    # merged: no two same-class boxes left that the merge would still fuse
    assert len(merge_detections(tiled_dets, np.zeros(len(tiled_dets), bool), 0.5, 0.7)) == len(tiled_dets)


def _frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    for _ in range(count):
        ok, f = cap.read()
        assert ok
        out.append(f)
    cap.release()
    return out


def test_motion_detector_boxes_moving_vehicles(yolox: YoloxDetector, shared_data: Path) -> None:
    det = MotionDetector(MotionConfig(warmup_frames=10, min_area=150))
    frames = _frames(shared_data / "highway_720p.mp4", 280, 40)
    results = [det.detect(f) for f in frames]
    assert all(len(r) == 0 for r in results[:10])  # warming up
    last = results[-1]
    assert len(last) >= 2 and set(last.class_names) == {"motion"}
    # every vehicle YOLOX sees near the camera (all of them drive) lies inside a motion box
    cars = yolox.detect(frames[-1])
    near = cars.xyxy[cars.xyxy[:, 3] > 300]
    assert len(near) >= 2
    for x1, y1, x2, y2 in near:
        ix = np.clip(np.minimum(x2, last.xyxy[:, 2]) - np.maximum(x1, last.xyxy[:, 0]), 0, None)
        iy = np.clip(np.minimum(y2, last.xyxy[:, 3]) - np.maximum(y1, last.xyxy[:, 1]), 0, None)
        assert (ix * iy / ((x2 - x1) * (y2 - y1))).max() > 0.5


def test_gate_skips_the_model_on_still_frames(yolox: YoloxDetector, shared_data: Path) -> None:
    clock = iter(np.arange(0, 100, 0.1))  # 10 calls per second of this clock
    gated = GatedDetector(yolox, MotionGateConfig(enabled=True, refresh_s=2.0), clock=lambda: float(next(clock)))
    still = read_frame(shared_data / "highway_720p.mp4", 300)
    results = [gated.detect(still) for _ in range(30)]
    assert gated.skipped > 0 and 2 <= gated.ran < 30  # refreshed every 2 s even without motion
    # skipped frames repeat the last boxes, so standing objects keep their tracks
    assert all(np.array_equal(r.xyxy, results[0].xyxy) for r in results) and len(results[0]) > 0
    before = gated.ran
    for f in _frames(shared_data / "highway_720p.mp4", 280, 10):
        gated.detect(f)
    assert gated.ran - before >= 5  # moving traffic: the model runs
    assert gated.info == yolox.info


def test_batches_give_the_same_boxes_as_single_frames(yolox: YoloxDetector, shared_data: Path) -> None:
    """Frames of several cameras go through one detect_batch: each gets its own boxes, in order."""
    frames = [read_frame(shared_data / "highway_720p.mp4", 300), read_frame(shared_data / "street_crossing_320p.mp4", 240)]
    tiled = TiledDetector(yolox, TilingConfig(enabled=True, rows=1, cols=2))
    for det in (yolox, tiled):
        batch = det.detect_batch(frames)
        singles = [det.detect(f) for f in frames]
        assert len(batch) == 2
        for b, s in zip(batch, singles, strict=True):
            assert np.allclose(b.xyxy, s.xyxy) and b.class_id.tolist() == s.class_id.tolist()
    assert batch[1].class_names.count("pedestrian") >= 3 and "car" in batch[0].class_names
