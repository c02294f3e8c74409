"""Light augmentation and the detector's own letterbox, in numpy/OpenCV.

Training images get a random scale around the letterbox fit, a random placement
(crop when larger than the input), a horizontal flip and an HSV jitter. Street cameras
are fixed and the data is small: heavier augmentation (mosaic, mixup) would spend the
few CPU minutes on images unlike anything the camera sees.
"""

from __future__ import annotations

import cv2
import numpy as np

PAD_VALUE = 114


def letterbox(img: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Exactly the detector's pre-processing: scale to fit, top-left, pad 114; HxWx3 uint8."""
    ih, iw = input_hw
    h, w = img.shape[:2]
    r = min(ih / h, iw / w)
    nh, nw = max(1, int(round(h * r))), max(1, int(round(w * r)))
    out = np.full((ih, iw, 3), PAD_VALUE, np.uint8)
    out[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r


def augment(img: np.ndarray, boxes: np.ndarray, labels: np.ndarray, input_hw: tuple[int, int],
            rng: np.random.Generator, scale: tuple[float, float] = (0.75, 1.35), flip: float = 0.5,
            hsv: tuple[float, float, float] = (0.015, 0.5, 0.35)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image HxWx3 uint8, boxes x1y1x2y2 in input pixels, labels) for one training sample."""
    ih, iw = input_hw
    h, w = img.shape[:2]
    r = min(ih / h, iw / w) * rng.uniform(*scale)
    nh, nw = max(1, int(round(h * r))), max(1, int(round(w * r)))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ox = int(rng.integers(min(0, iw - nw), max(0, iw - nw) + 1))
    oy = int(rng.integers(min(0, ih - nh), max(0, ih - nh) + 1))
    out = np.full((ih, iw, 3), PAD_VALUE, np.uint8)
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + nw, iw), min(oy + nh, ih)
    out[y0:y1, x0:x1] = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    b = boxes * r + np.array([ox, oy, ox, oy], np.float32)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    c = b.copy()
    c[:, [0, 2]] = c[:, [0, 2]].clip(0, iw)
    c[:, [1, 3]] = c[:, [1, 3]].clip(0, ih)
    cw, ch = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    keep = (cw >= 2) & (ch >= 2) & (cw * ch >= 0.4 * np.maximum(area, 1e-6))
    c, labels = c[keep], labels[keep]
    if rng.random() < flip:
        out = out[:, ::-1].copy()
        c = c[:, [2, 1, 0, 3]] * np.array([-1, 1, -1, 1], np.float32) + np.array([iw, 0, iw, 0], np.float32)
    if hsv is not None and any(hsv):
        gains = rng.uniform(-1, 1, 3) * np.asarray(hsv) + 1
        hue, sat, val = cv2.split(cv2.cvtColor(out, cv2.COLOR_BGR2HSV))
        x = np.arange(256, dtype=np.float32)
        lut_h = ((x * gains[0]) % 180).astype(np.uint8)
        lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
        lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
        out = cv2.cvtColor(cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v))), cv2.COLOR_HSV2BGR)
    return out, c.astype(np.float32), labels
