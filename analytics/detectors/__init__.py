"""Detectors: YOLOX through ONNX Runtime, tiling for wide views, a motion detector and gate."""

from analytics.detectors.base import Detector, DetectorConfig, build_detector, check_frame, shared_detector, view_detector
from analytics.detectors.config import FusionConfig, MotionConfig, MotionGateConfig, TilingConfig, YoloxConfig

__all__ = [
    "Detector",
    "DetectorConfig",
    "FusionConfig",
    "MotionConfig",
    "MotionGateConfig",
    "TilingConfig",
    "YoloxConfig",
    "build_detector",
    "shared_detector",
    "view_detector",
    "check_frame",
]
