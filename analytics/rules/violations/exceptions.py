"""Errors of the violation rules (a branch of `analytics.exceptions`).

    AnalyticsError
    ├── CalibrationError      four points that give no usable homography (collinear, repeated)
    ├── SignalError           a signal state message that cannot be read (unknown state, bad time)
    ├── RuleConfigError       a rule config that disagrees with its scene (a direction the line lacks)
    └── ModelError            (analytics) the no-helmet classifier file is missing or has a wrong shape
"""

from __future__ import annotations

from analytics.exceptions import AnalyticsError, ModelError


class CalibrationError(AnalyticsError, ValueError):
    """A speed calibration that cannot map image points to metres."""


class SignalError(AnalyticsError, ValueError):
    """A traffic signal state that cannot be accepted."""


class RuleConfigError(AnalyticsError, ValueError):
    """A violation rule config that does not fit the scene it runs in."""


__all__ = ["CalibrationError", "ModelError", "RuleConfigError", "SignalError"]
