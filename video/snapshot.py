"""JPEG snapshots: encode a BGR frame (optionally downscaled) and decode one back."""

from __future__ import annotations

import cv2
import numpy as np

from video.exceptions import SnapshotError


def encode_jpeg(image: np.ndarray, quality: int = 85, max_width: int | None = None) -> bytes:
    """JPEG bytes of a BGR image, downscaled to ``max_width`` if it is wider.

    Example::

        data = encode_jpeg(frame.image, quality=80, max_width=640)
    """
    if image is None or image.ndim != 3 or image.size == 0:
        raise SnapshotError(f"not a BGR image: {None if image is None else image.shape}")
    if max_width and image.shape[1] > max_width:
        height = max(2, round(image.shape[0] * max_width / image.shape[1]))
        image = cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SnapshotError("OpenCV could not encode the JPEG")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """The BGR image in JPEG bytes; `SnapshotError` when they are not a JPEG."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SnapshotError(f"not a decodable image ({len(data)} bytes)")
    return image
