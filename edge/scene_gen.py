"""A generated demo scene: a road seen from above with cars, motorbikes and people moving.

Used when `ioc demo` gets no file or RTSP URL: the product must not depend on any video
shipped with it. Rendered with numpy/OpenCV once and written as an H.264 MP4 that the
edge then plays in a loop through the same file source as any real video.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from video.clip import write_clip

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 15, 16


def _background() -> np.ndarray:
    img = np.full((HEIGHT, WIDTH, 3), (70, 110, 80), np.uint8)  # grass
    cv2.rectangle(img, (0, 120), (WIDTH, 250), (60, 60, 60), -1)  # road
    for x in range(0, WIDTH, 40):  # centre line dashes
        cv2.line(img, (x, 185), (x + 20, 185), (230, 230, 230), 2)
    cv2.rectangle(img, (280, 250), (360, 340), (150, 150, 150), -1)  # pavement / crossing area
    rng = np.random.default_rng(7)
    noise = rng.integers(-6, 7, img.shape, dtype=np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def render_frames() -> list[np.ndarray]:
    """The frames of the scene (one loop): vehicles both ways, a person crossing."""
    base = _background()
    frames = []
    movers = [  # (lane y, speed px/frame, length, height, colour, phase)
        (140, 6.0, 60, 28, (40, 40, 200), 0), (150, 9.0, 24, 12, (200, 200, 40), 120),
        (205, -7.0, 64, 30, (200, 80, 40), 300), (220, -10.0, 24, 12, (40, 200, 200), 500),
        (140, 5.0, 56, 26, (220, 220, 220), 400),
    ]
    total = FPS * SECONDS
    for i in range(total):
        img = base.copy()
        for y, speed, length, height, colour, phase in movers:
            span = WIDTH + length * 2
            x = int((phase + speed * i) % span) - length if speed > 0 else int(span - ((phase - speed * i) % span)) - length
            cv2.rectangle(img, (x, y), (x + length, y + height), colour, -1)
            cv2.rectangle(img, (x, y), (x + length, y + height), (20, 20, 20), 1)
        # A person walks across the crossing and back.
        t = (i % (FPS * 8)) / (FPS * 8)
        py = int(330 - 200 * (t * 2 if t < 0.5 else 2 - t * 2))
        cv2.circle(img, (320, py - 18), 6, (150, 180, 220), -1)
        cv2.rectangle(img, (314, py - 12), (326, py + 10), (120, 60, 160), -1)
        frames.append(img)
    return frames


def ensure_scene(folder: Path) -> Path:
    """``folder/generated_scene.mp4``, rendered on first use."""
    path = Path(folder) / "generated_scene.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        tmp.write_bytes(write_clip(render_frames(), fps=FPS, crf=23))
        tmp.replace(path)
    return path
