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

__all__ = ["Detector", "DetectorConfig", "MotionConfig", "YoloxConfig", "build_detector", "check_frame",
           "shared_detector", "view_detector"]


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


def build_detector(config: DetectorConfig, regions: Sequence[np.ndarray] | None = None) -> Detector:
    """The detector for one camera: `shared_detector`, then `view_detector` around it.

    ``regions`` are the camera's lane/zone/line polygons (frame pixels; `analytics.scene.scene_regions`),
    used by scene tiling. The one place detectors are composed: the edge worker shares the
    first part between cameras and wraps each camera's handle in the second.
    """
    if isinstance(config, MotionConfig):
        from analytics.detectors.motion import MotionDetector

        return MotionDetector(config)
    if isinstance(config, YoloxConfig):
        return view_detector(shared_detector(config), config, regions)
    raise TypeError(f"no detector for config {type(config).__name__}")


def shared_detector(config: YoloxConfig) -> Detector:
    """The stages that hold no per-camera state and may serve several cameras: the model, grid
    tiling when enabled, road-user fusion and the class filter."""
    from analytics.detectors.fusion import RoadUserDetector
    from analytics.detectors.tiling import TiledDetector
    from analytics.detectors.yolox import YoloxDetector

    detector: Detector = YoloxDetector(config, keep_weak=True)
    if config.tiling.enabled and config.tiling.mode == "grid":
        detector = TiledDetector(detector, config.tiling)
    return RoadUserDetector(detector, config.fusion, config.classes, config.confidence)


def view_detector(detector: Detector, config: YoloxConfig, regions: Sequence[np.ndarray] | None = None) -> Detector:
    """The per-camera stages around a (possibly shared) detector: scene tiling over ``regions``
    when enabled (the full frame only if there are none), then the motion gate when enabled."""
    from analytics.detectors.motion import GatedDetector
    from analytics.detectors.tiling import TiledDetector, scene_tiles

    if config.tiling.enabled and config.tiling.mode == "scene":
        polygons = list(regions or [])
        side = model_input_side(detector)
        tiling = config.tiling
        detector = TiledDetector(detector, tiling, tiles=lambda w, h: scene_tiles(polygons, w, h, tiling, side))
    if config.gate.enabled:
        detector = GatedDetector(detector, config.gate)
    return detector


def model_input_side(detector: Any) -> int:
    """The shorter side of the model input behind a stack of wrappers (416 when none is found)."""
    seen = 0
    while detector is not None and seen < 16:
        hw = getattr(detector, "input_hw", None)
        if hw is not None:
            return int(min(hw))
        detector = getattr(detector, "inner", None) or getattr(getattr(detector, "service", None), "detector", None)
        seen += 1
    return 416
