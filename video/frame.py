"""A decoded frame with its capture time; pixels are converted to BGR only when asked for.

Decoding H.264 is needed for every frame (inter-frame coding), but converting YUV to a
BGR array costs about as much again and most frames are dropped by the consumers (a
5 fps detector on a 30 fps camera), so the conversion is lazy and cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


@dataclass(eq=False)
class Frame:
    """One frame from a source.

    ``ts`` is the UTC wall-clock time of capture (for events), ``mono`` the
    ``time.monotonic()`` value at capture (for rates and ring-buffer windows), ``index``
    the frame's number since the source was opened.

    Example::

        frame = Frame.from_array(np.zeros((720, 1280, 3), np.uint8), ts=now, mono=time.monotonic())
        frame.image.shape  # (720, 1280, 3)
    """

    ts: datetime
    mono: float
    index: int
    width: int
    height: int
    _image: np.ndarray | None = field(default=None, repr=False)
    _native: Any = field(default=None, repr=False)  # av.VideoFrame until converted
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_array(cls, image: np.ndarray, ts: datetime, mono: float, index: int = 0) -> "Frame":
        """A frame around an existing BGR ``uint8`` array of shape (H, W, 3)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 image (H, W, 3), got {image.dtype} {image.shape}")
        return cls(ts=ts, mono=mono, index=index, width=image.shape[1], height=image.shape[0], _image=image)

    @classmethod
    def from_av(cls, native: Any, ts: datetime, mono: float, index: int) -> "Frame":
        """A frame around a decoded ``av.VideoFrame``; converted on first access to ``image``."""
        return cls(ts=ts, mono=mono, index=index, width=native.width, height=native.height, _native=native)

    @property
    def image(self) -> np.ndarray:
        """The BGR ``uint8`` pixels (H, W, 3); shared, do not modify in place."""
        if self._image is None:
            with self._lock:
                if self._image is None:
                    self._image = self._native.to_ndarray(format="bgr24")
                    self._native = None
        return self._image  # type: ignore[return-value]
