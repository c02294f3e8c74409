"""One YOLOX session serves several camera threads; frames arriving together share a call."""

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
    svc = DetectorService(build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx")), max_batch=4,
                          max_wait_ms=20).start()
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


def test_two_workers_share_one_session(shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    svc = DetectorService(build_detector(YoloxConfig(model=shared_data / "yolox_nano.onnx")), workers=2).start()
    try:
        assert len(svc._threads) == 2
        out: list[list[str]] = []
        threads = [threading.Thread(target=lambda: out.append(svc.detect(image).class_names)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(out) == 6 and all(names == out[0] for names in out)
    finally:
        svc.stop()
    assert not any(t.is_alive() for t in svc._threads)


def test_a_bad_frame_fails_only_its_caller(service: DetectorService, shared_data: Path) -> None:
    with pytest.raises(FrameError):
        service.detect(np.zeros((4, 4), np.uint8))
    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    assert len(service.detect(image)) >= 2  # the service is still serving
