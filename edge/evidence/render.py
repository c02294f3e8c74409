"""Evidence images: the overview with everything burned in, and the plate close-up.

Boxes and geometry are drawn with OpenCV; text with Pillow and a TrueType font because
OpenCV's Hershey fonts have no Vietnamese diacritics ("Vượt đèn đỏ" would come out as
question marks). The caption is drawn on a band added above the frame, so no pixel of the
scene is hidden behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge.evidence.exceptions import PackagingError

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)

# Names of the violation types as a Vietnamese officer reads them on the evidence.
VIOLATION_NAMES_VI = {
    "traffic.red_light": "Vượt đèn đỏ",
    "traffic.wrong_way": "Đi ngược chiều",
    "traffic.illegal_stopping": "Dừng, đỗ xe không đúng quy định",
    "traffic.solid_line": "Đè, vượt vạch kẻ đường liền",
    "traffic.lane_violation": "Đi không đúng làn đường quy định",
    "traffic.speeding": "Chạy quá tốc độ quy định",
    "traffic.no_helmet": "Không đội mũ bảo hiểm",
}

BGR = tuple[int, int, int]
RED: BGR = (0, 0, 255)
YELLOW: BGR = (0, 220, 255)
CYAN: BGR = (255, 200, 0)


@dataclass(frozen=True)
class Overlay:
    """A line or polygon of the scene drawn on the overview (stop line, zone, lane, segment)."""

    points: tuple[tuple[float, float], ...]
    closed: bool = False
    label: str = ""
    colour: BGR = YELLOW


@dataclass
class Caption:
    """The text burned into the overview band."""

    title: str
    camera_name: str
    place: str
    ts: datetime
    lines: list[str] = field(default_factory=list)
    utc_offset_h: float = 7.0  # Vietnam (ICT, no daylight saving)

    def time_text(self) -> str:
        if self.ts.tzinfo is None:
            raise PackagingError("caption time must carry a time zone")
        local = self.ts.astimezone(timezone(timedelta(hours=self.utc_offset_h)))
        sign = "+" if self.utc_offset_h >= 0 else "-"
        return (f"{local:%d/%m/%Y %H:%M:%S}.{local.microsecond // 1000:03d} "
                f"(GMT{sign}{abs(self.utc_offset_h):g})")


@lru_cache(maxsize=16)
def load_font(size: int, path: str | None = None) -> ImageFont.FreeTypeFont:
    """A TrueType font with Vietnamese glyphs; `PackagingError` names the package to install."""
    for candidate in ([path] if path else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            try:
                return ImageFont.truetype(candidate, size)
            except OSError as exc:
                raise PackagingError(f"cannot load font {candidate}: {exc}") from exc
    raise PackagingError("no TrueType font with Vietnamese glyphs found; "
                         "install fonts-dejavu-core or set evidence.font_path")


def render_overview(
    frame: np.ndarray,
    box: tuple[float, float, float, float] | None,
    overlays: list[Overlay],
    caption: Caption,
    *,
    font_path: str | None = None,
    max_width: int = 1920,
) -> np.ndarray:
    """The overview image (BGR): scene + overlays + vehicle box, with a caption band on top."""
    if frame is None or frame.ndim != 3 or frame.shape[2] != 3:
        raise PackagingError(f"overview needs a BGR frame, got {None if frame is None else frame.shape}")
    scale = min(1.0, max_width / frame.shape[1])
    image = frame if scale == 1.0 else cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    image = image.copy()
    thickness = max(2, round(image.shape[1] / 500))
    for ov in overlays:
        pts = np.round(np.asarray(ov.points, dtype=np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [pts], ov.closed, ov.colour, thickness, cv2.LINE_AA)
    if box is not None:
        x1, y1, x2, y2 = (round(v * scale) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), RED, thickness + 1, cv2.LINE_AA)

    height, width = image.shape[:2]
    font_size = max(14, round(width / 55))
    font = load_font(font_size, font_path)
    small = load_font(max(12, round(font_size * 0.8)), font_path)
    text_lines = [
        (caption.title, font, (255, 80, 80)),
        (f"{caption.camera_name} — {caption.place}", small, (255, 255, 255)),
        (caption.time_text() + ("   " + "   ".join(caption.lines) if caption.lines else ""), small, (255, 255, 255)),
    ]
    pad = font_size // 2
    band_h = pad + sum(f.size + pad for _, f, _ in text_lines)
    canvas = Image.new("RGB", (width, height + band_h), (20, 20, 20))
    canvas.paste(Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), (0, band_h))
    draw = ImageDraw.Draw(canvas)
    y = pad
    for text, fnt, colour in text_lines:
        draw.text((pad, y), text, font=fnt, fill=colour)
        y += fnt.size + pad
    # Overlay labels go on the scene in the same font, next to their first point.
    for ov in overlays:
        if ov.label:
            x0, y0 = ov.points[0]
            b, g, r = ov.colour
            # kept inside the picture: a label cut by the edge is no label
            x = min(max(2.0, x0 * scale + 4), width - small.getlength(ov.label) - 4)
            y = min(max(band_h + 2.0, y0 * scale + band_h + 4), band_h + height - small.size - 6)
            draw.text((x, y), ov.label, font=small, fill=(r, g, b), stroke_width=2, stroke_fill=(0, 0, 0))
    return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)


def render_closeup(
    frame: np.ndarray,
    box: tuple[float, float, float, float],
    label: str,
    *,
    font_path: str | None = None,
    min_width: int = 480,
    margin: float = 0.15,
) -> np.ndarray:
    """A close-up of `box` (a plate, or the vehicle when no plate was found), enlarged and labelled."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    ix1, iy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    ix2, iy2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if ix2 - ix1 < 2 or iy2 - iy1 < 2:
        raise PackagingError(f"close-up box {box} is outside the {w}x{h} frame")
    crop = frame[iy1:iy2, ix1:ix2]
    if crop.shape[1] < min_width:
        factor = min_width / crop.shape[1]
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    font = load_font(max(16, crop.shape[1] // 20), font_path)
    band = font.size + 12
    canvas = Image.new("RGB", (crop.shape[1], crop.shape[0] + band), (20, 20, 20))
    canvas.paste(Image.fromarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)), (0, band))
    ImageDraw.Draw(canvas).text((6, 6), label, font=font, fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)
