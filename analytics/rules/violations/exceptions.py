"""Errors of the violation rules (a branch of `analytics.exceptions`).

    AnalyticsError
    ├── CalibrationError      four points that give no usable homography (collinear, repeated)
    ├── SignalError           a signal state message that cannot be read (unknown state, bad time)
    └── ModelError            (analytics) the no-helmet classifier file is missing or has a wrong shape
"""

from __future__ import annotations

from analytics.exceptions import AnalyticsError, ModelError


class CalibrationError(AnalyticsError, ValueError):
    """A speed calibration that cannot map image points to metres."""


class SignalError(AnalyticsError, ValueError):
    """A traffic signal state that cannot be accepted."""


__all__ = ["CalibrationError", "ModelError", "SignalError"]
