"""Drawing for previews and overview snapshots: boxes with class and track id, zones, lines.

OpenCV drawing on a copy of the frame; colours fixed per class so operators learn them.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from analytics.detections import Detections
from analytics.scene import SceneConfig


def preview_image(image: np.ndarray, tracks: Detections, scene: SceneConfig, max_width: int) -> np.ndarray:
    """The annotated preview: scaled down first, then drawn on (cheaper than drawing at full size)."""
    scale = min(1.0, max_width / image.shape[1])
    small = image if scale == 1.0 else cv2.resize(image, (max_width, max(2, round(image.shape[0] * scale))),
                                                  interpolation=cv2.INTER_LINEAR)
    return draw_scene(draw_tracks(small, tracks, scale=scale), scene, scale=scale)

_COLOURS = {  # BGR
    "pedestrian": (60, 200, 255), "bicycle": (255, 200, 60), "motorbike": (80, 255, 80),
    "car": (255, 120, 40), "bus": (200, 80, 255), "truck": (40, 80, 255), "motion": (200, 200, 200),
}


def draw_tracks(image: np.ndarray, tracks: Detections, highlight: Iterable[int] = (), scale: float = 1.0) -> np.ndarray:
    """A copy of ``image`` with each box, its class and track id; highlighted tracks in red.

    ``scale`` maps box coordinates to ``image`` (for drawing on a downscaled copy).
    """
    out = image.copy()
    marked = set(highlight)
    thick = max(1, image.shape[1] // 640)
    names = tracks.class_names
    for i in range(len(tracks)):
        x1, y1, x2, y2 = (int(v * scale) for v in tracks.xyxy[i])
        tid = int(tracks.tracker_id[i])
        colour = (0, 0, 255) if tid in marked else _COLOURS.get(names[i], (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick + (1 if tid in marked else 0))
        label = f"{names[i]} #{tid}" if tid >= 0 else names[i]
        cv2.putText(out, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, colour, thick, cv2.LINE_AA)
    return out


def draw_scene(image: np.ndarray, scene: SceneConfig, scale: float = 1.0) -> np.ndarray:
    """Zones (yellow outlines), lanes (cyan with direction arrow) and lines (magenta) in place."""
    thick = max(1, image.shape[1] // 640)
    for zone in scene.zones:
        pts = (np.array(zone.polygon) * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [pts], True, (0, 220, 255), thick)
    for lane in scene.lanes:
        pts = (np.array(lane.polygon) * scale).astype(np.int32)
        cv2.polylines(image, [pts.reshape(-1, 1, 2)], True, (255, 255, 0), thick)
        cx, cy = pts.mean(axis=0)
        dx, dy = lane.direction
        norm = max((dx * dx + dy * dy) ** 0.5, 1e-6)
        tip = (int(cx + 40 * dx / norm), int(cy + 40 * dy / norm))
        cv2.arrowedLine(image, (int(cx), int(cy)), tip, (255, 255, 0), thick)
    for line in scene.lines:
        cv2.arrowedLine(image, tuple(int(v * scale) for v in line.start), tuple(int(v * scale) for v in line.end),
                        (255, 0, 255), thick, tipLength=0.02)
    return image


def draw_banner(image: np.ndarray, text: str) -> np.ndarray:
    """Write a status line at the top left (camera name, detector, status) in place."""
    scale = max(0.5, image.shape[1] / 1280)
    cv2.putText(image, text, (8, int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(image, text, (8, int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def placeholder(text: str, width: int = 640, height: int = 360) -> np.ndarray:
    """A dark picture with ``text`` in the middle (a camera offline)."""
    image = np.full((height, width, 3), 32, np.uint8)
    size = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)[0]
    cv2.putText(image, text, ((width - size[0]) // 2, (height + size[1]) // 2), cv2.FONT_HERSHEY_SIMPLEX,
                1.0, (80, 80, 255), 2, cv2.LINE_AA)
    return image


def crop_box(image: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.25) -> np.ndarray | None:
    """The box widened by ``margin`` on each side, clipped to the image; None when empty."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    a, b = max(0, int(x1 - mx)), max(0, int(y1 - my))
    c, d = min(w, int(x2 + mx) + 1), min(h, int(y2 + my) + 1)
    if c - a < 2 or d - b < 2:
        return None
    return image[b:d, a:c]
