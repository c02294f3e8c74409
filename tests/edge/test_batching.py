"""One YOLOX session serves several camera threads: queued (frames arriving together share a
detect_batch call) or, for fixed-batch models, run in the cameras' own threads."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.detectors import YoloxConfig, build_detector
from analytics.exceptions import FrameError
from edge.batching import DetectorService, SharedDetector


@pytest.fixture(scope="module")
def service(shared_data: Path):  # type: ignore[no-untyped-def]
    # queued=True: the queue path, although this model has a fixed batch (detect_batch loops).
    svc = DetectorService(build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx")), max_batch=4,
                          workers=1, queued=True).start()
    yield svc
    svc.stop()


def test_results_match_the_detector_called_directly(service: DetectorService, shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    direct = service.detector.detect(image)
    shared = SharedDetector(service)
    via_service = shared.detect(image)
    assert via_service.class_names == direct.class_names and len(direct) >= 2  # bicycle, truck
    np.testing.assert_allclose(via_service.xyxy, direct.xyxy, atol=1e-3)
    assert shared.info == {"kind": "yolox", "model": "yolox_nano.onnx"}


def test_concurrent_cameras_are_batched(service: DetectorService, shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    frames_before, batches_before = service.frames, service.batches
    barrier = threading.Barrier(4)
    results: list[int] = []

    def camera() -> None:
        for _ in range(5):
            barrier.wait()
            results.append(len(service.detect(image)))

    threads = [threading.Thread(target=camera) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frames, batches = service.frames - frames_before, service.batches - batches_before
    assert frames == 20 and len(set(results)) == 1
    # Frames that queued while the model was busy went through one detect_batch call together.
    assert batches < frames
    assert service.run_ms > 0


def test_fixed_batch_model_runs_in_the_callers_threads(shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    svc = DetectorService(build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx")), workers=2).start()
    try:
        assert svc.queued is False and svc._threads == []  # YOLOX-Nano has a fixed batch of 1: no hop
        out: list[list[str]] = []
        threads = [threading.Thread(target=lambda: out.append(svc.detect(image).class_names)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(out) == 6 and all(names == out[0] for names in out)
        assert svc.frames == 6
    finally:
        svc.stop()


def test_a_bad_frame_fails_only_its_caller(service: DetectorService, shared_data: Path) -> None:
    with pytest.raises(FrameError):
        service.detect(np.zeros((4, 4), np.uint8))
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    assert len(service.detect(image)) >= 2  # the service is still serving
