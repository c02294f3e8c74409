"""Errors raised by the analytics package.

Tree::

    AnalyticsError
    ├── DetectionsError        a Detections record whose arrays disagree (shape, length, dtype)
    ├── ModelError             a model file that is missing, unreadable or has an unexpected shape
    │   └── InferenceError     ONNX Runtime failed while running a loaded model
    ├── FrameError             a frame that is not an HxWx3 uint8 BGR image
    └── SceneConfigError       a rule config that is valid field by field but does not fit its scene
                               (e.g. a red-light direction the stop line does not have)

Configuration errors (wrong field, polygon with 2 points, a rule naming a zone the
scene lacks) are `pydantic.ValidationError` raised while the config loads: it
already names the file's field, and nothing is built from a bad config.
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
    """A rule config that does not fit the scene it is in; a ValueError, so pydantic validators may raise it."""
