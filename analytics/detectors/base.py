"""The detector interface: ``Detector.detect(frame) -> Detections``.

Each implementation has a config class with ``type: Literal["key"]``; `DetectorConfig`
is their discriminated union, so an unknown key fails when the config loads.

Example::

    from pydantic import TypeAdapter
    cfg = TypeAdapter(DetectorConfig).validate_python({"type": "yolox", "model": "yolox_nano.onnx"})
    detector = build_detector(cfg)
    dets = detector.detect(frame)          # frame: HxWx3 uint8 BGR
    print(dets.class_names, detector.info)  # ['car', 'motorbike'] {'kind': 'yolox', 'model': 'yolox_nano.onnx'}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.detections import Detections
from analytics.detectors.config import DetectorConfig, MotionConfig, YoloxConfig
from analytics.exceptions import FrameError

__all__ = ["Detector", "DetectorConfig", "MotionConfig", "YoloxConfig", "build_detector", "check_frame"]


def check_frame(frame: Any) -> np.ndarray:
    """Return ``frame`` if it is an HxWx3 uint8 image, else raise `FrameError`."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise FrameError(f"expected an HxWx3 uint8 BGR frame, got shape {shape} dtype {dtype}")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise FrameError(f"frame {frame.shape[1]}x{frame.shape[0]} is too small")
    return frame


class Detector(ABC):
    """Finds objects in one BGR frame.

    Subclasses implement `detect`; `detect_batch` runs several frames (from several
    cameras) in one call where the model allows it, else one after the other.

    Example::

        class Nothing(Detector):
            kind = "nothing"
            def detect(self, frame):
                check_frame(frame)
                return Detections.empty()
    """

    kind: str = "abstract"

    @abstractmethod
    def detect(self, frame: np.ndarray) -> Detections:
        """Boxes in ``frame`` pixel coordinates, untracked (``tracker_id == -1``)."""

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One `Detections` per frame, in order. Default: `detect` on each."""
        return [self.detect(f) for f in frames]

    @property
    def info(self) -> dict[str, Any]:
        """What the heartbeat reports: ``{"kind": ..., "model": name or None}``."""
        return {"kind": self.kind, "model": None}

    def close(self) -> None:
        """Release sessions and buffers (default: nothing to release)."""


def build_detector(config: DetectorConfig) -> Detector:
    """The detector for ``config``: the model, tiling when enabled, road-user fusion and the class
    filter, then the motion gate when enabled. The one place detectors are composed."""
    if isinstance(config, MotionConfig):
        from analytics.detectors.motion import MotionDetector

        return MotionDetector(config)
    if isinstance(config, YoloxConfig):
        from analytics.detectors.fusion import RoadUserDetector
        from analytics.detectors.motion import GatedDetector
        from analytics.detectors.tiling import TiledDetector
        from analytics.detectors.yolox import YoloxDetector

        detector: Detector = YoloxDetector(config, keep_weak=True)
        if config.tiling.enabled:
            detector = TiledDetector(detector, config.tiling)
        detector = RoadUserDetector(detector, config.fusion, config.classes, config.confidence)
        if config.gate.enabled:
            detector = GatedDetector(detector, config.gate)
        return detector
    raise TypeError(f"no detector for config {type(config).__name__}")
