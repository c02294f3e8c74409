"""Errors raised by the analytics package.

Tree::

    AnalyticsError
    ├── DetectionsError        a Detections record whose arrays disagree (shape, length, dtype)
    ├── ModelError             a model file that is missing, unreadable or has an unexpected shape
    │   └── InferenceError     ONNX Runtime failed while running a loaded model
    ├── FrameError             a frame that is not an HxWx3 uint8 BGR image
    └── SceneConfigError       a scene whose rules name zones, lines or lanes that do not exist

Configuration errors that pydantic finds (wrong field, polygon with 2 points) stay
`pydantic.ValidationError`, which already names the field.
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of every error raised by `analytics`."""


class DetectionsError(AnalyticsError, ValueError):
    """A `Detections` record whose arrays do not agree with each other."""


class ModelError(AnalyticsError):
    """A model file that cannot be used (missing, corrupt, unexpected input or output shape)."""


class InferenceError(ModelError):
    """ONNX Runtime raised while running a model that loaded fine."""


class FrameError(AnalyticsError, ValueError):
    """A frame that is not an HxWx3 uint8 BGR image."""


class SceneConfigError(AnalyticsError, ValueError):
    """A scene config that is valid field by field but inconsistent as a whole."""
