"""Choosing which frames of a vehicle's track to read: sharp and large beats blurred and far.

Example::

    >>> crops = [np.zeros((60, 80, 3), np.uint8), np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)]
    >>> best_frames(crops, k=1)
    [1]
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from analytics.plates.exceptions import PlateCropError

REFERENCE_AREA = 240 * 180
"""A crop this large (or larger) gets the full size score: plates in it are big enough to read."""
SHARPNESS_HALF = 100.0
"""Laplacian variance at which the sharpness score is one half."""


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: high for crisp edges, low for blur."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise PlateCropError("image must be a non-empty HxW or HxWx3 array")
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def frame_quality(image: np.ndarray) -> float:
    """0..1: size term (area relative to `REFERENCE_AREA`, capped) times sharpness term."""
    h, w = image.shape[:2]
    size = min(1.0, (h * w) / REFERENCE_AREA)
    s = sharpness(image)
    return size * s / (s + SHARPNESS_HALF)


def best_frames(crops: Sequence[np.ndarray], k: int = 3) -> list[int]:
    """Indices of the ``k`` best crops of one track, best first (ties keep track order)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    scored = sorted(range(len(crops)), key=lambda i: (-frame_quality(crops[i]), i))
    return scored[:k]
