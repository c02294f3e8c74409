"""Plate colour from the background's hue: white (private), yellow (commercial), blue (state), red (army).

The plate's own pixels split into two groups by Otsu's threshold: lettering and
background. The background is the larger group. Its median hue, saturation and
value decide the family; the lettering must be on the expected side (dark on
white and yellow, light on blue and red), otherwise the confidence drops.

Example::

    >>> plate = np.zeros((40, 160, 3), np.uint8); plate[:] = (160, 64, 22)   # BGR blue
    >>> plate[12:28, 20:140] = 245                                            # white lettering
    >>> classify_colour(plate)[0]
    'blue'
"""

from __future__ import annotations

import cv2
import numpy as np

from analytics.plates.exceptions import PlateCropError

# OpenCV hue is 0..179
_YELLOW = (12, 42)
_BLUE = (90, 135)
_MIN_SATURATION = 80


def classify_colour(plate: np.ndarray) -> tuple[str, float]:
    """``(colour, confidence)`` of a plate image (BGR): colour in white, yellow, blue, red."""
    if not isinstance(plate, np.ndarray) or plate.ndim != 3 or plate.shape[2] != 3 or plate.size == 0:
        raise PlateCropError("plate image must be a non-empty HxWx3 BGR array")
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    _t, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = mask > 0
    background = bright if bright.mean() >= 0.5 else ~bright
    bg_is_bright = bool(bright.mean() >= 0.5)
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV)[background]
    if len(hsv) == 0:
        return "white", 0.0
    h = float(np.median(hsv[:, 0]))
    s = float(np.median(hsv[:, 1]))
    share = float(background.mean())  # how clearly the background dominates: 0.5 .. 1
    if s < _MIN_SATURATION:
        colour, expect_bright = "white", True
        strength = 1.0 - s / _MIN_SATURATION
    elif _YELLOW[0] <= h <= _YELLOW[1]:
        colour, expect_bright = "yellow", True
        strength = min(1.0, (s - _MIN_SATURATION) / 80 + 0.5)
    elif _BLUE[0] <= h <= _BLUE[1]:
        colour, expect_bright = "blue", False
        strength = min(1.0, (s - _MIN_SATURATION) / 80 + 0.5)
    elif h < 10 or h > 165:
        colour, expect_bright = "red", False
        strength = min(1.0, (s - _MIN_SATURATION) / 80 + 0.5)
    else:  # saturated but an odd hue (green cast, dusk light): most plates are white
        colour, expect_bright = "white", True
        strength = 0.2
    confidence = strength * min(1.0, (share - 0.5) * 4 + 0.5)
    if bg_is_bright != expect_bright:
        confidence *= 0.5
    return colour, round(float(confidence), 3)
