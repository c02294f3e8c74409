"""Synthetic Vietnamese plates pasted into real frames: for tests, the benchmark and camera set-up checks.

No real plate photographs ship with the project, so plates are rendered: the
canonical text in a condensed bold sans font on a plate-coloured rectangle with
its border (one-row car plates 520 x 110 mm, two-row motorbike plates
190 x 140 mm), warped in perspective into a crop of a real frame, then blurred,
darkened, noised and JPEG-compressed the way a junction camera delivers it.

Example::

    >>> rng = np.random.default_rng(1)
    >>> frame = np.full((720, 1280, 3), 90, np.uint8)
    >>> sample = make_sample(frame, rng, kind="motorbike", colour="white", plate_width=110)
    >>> sample.text.count(" "), sample.image.dtype
    (1, dtype('uint8'))

Use it to test a camera: render plates at the pixel width your camera sees at
the stop line and check the reader on them (see docs/plates.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from analytics.plates.exceptions import PlateCropError, PlateFontError
from contract.plates.grammar import SERIES_LETTERS, SPECIAL_SERIES, parse_plate
from contract.plates.provinces import PROVINCES

PlateKind = Literal["car", "motorbike"]
PlateColour = Literal["white", "yellow", "blue", "red"]

# Background and ink colours (RGB) of the plate families in Circular 24/2023/TT-BCA.
COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "white": ((238, 238, 232), (20, 20, 20)),  # private vehicles
    "yellow": ((242, 196, 32), (20, 20, 20)),  # commercial transport
    "blue": ((22, 64, 160), (245, 245, 245)),  # state agencies
    "red": ((200, 28, 32), (245, 245, 245)),  # army
}
SIZE_MM: dict[str, tuple[int, int]] = {"car": (520, 110), "motorbike": (190, 140)}

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


def available_fonts() -> list[str]:
    """The bold sans fonts of `FONT_CANDIDATES` installed here (vary them to avoid training on one font)."""
    return [p for p in FONT_CANDIDATES if Path(p).exists()]


@lru_cache(maxsize=8)
def _font(size: int, path: str | None = None) -> ImageFont.FreeTypeFont:
    for candidate in ([path] if path else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    raise PlateFontError(
        "no condensed bold TrueType font found; install Debian fonts-dejavu-core or pass font_path "
        f"(looked in {', '.join(FONT_CANDIDATES)})"
    )


def random_plate_text(rng: np.random.Generator, kind: PlateKind, *, special: float = 0.05) -> str:
    """A random valid plate of ``kind`` (canonical text), e.g. ``51F-123.45`` or ``59-X1 123.45``."""
    codes = list(PROVINCES)
    code = codes[int(rng.integers(len(codes)))]
    number = f"{int(rng.integers(1, 100000)):05d}"
    if kind == "car":
        if rng.random() < special:
            series = list(SPECIAL_SERIES)[int(rng.integers(len(SPECIAL_SERIES)))]
        else:
            series = SERIES_LETTERS[int(rng.integers(len(SERIES_LETTERS)))]
        if rng.random() < 0.15:  # older four-digit plates
            text = f"{code}{series}-{number[1:]}"
        else:
            text = f"{code}{series}-{number[:3]}.{number[3:]}"
    else:
        if rng.random() < 0.1:  # mopeds up to 50 cc have two series letters
            series = "".join(SERIES_LETTERS[int(i)] for i in rng.integers(len(SERIES_LETTERS), size=2))
        else:
            series = SERIES_LETTERS[int(rng.integers(len(SERIES_LETTERS)))] + str(int(rng.integers(1, 10)))
        text = f"{code}-{series} {number[:3]}.{number[3:]}"
    return parse_plate(text).text


def _text_block(text: str, box_w: int, box_h: int, ink: tuple[int, int, int], font_path: str | None) -> Image.Image:
    """``text`` stretched to fill ``box_h`` (plate lettering is taller and narrower than any font)."""
    font = _font(200, font_path)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, font=font, fill=255)
    width = min(box_w, int(img.width * box_h / img.height * 0.85))
    mask = img.resize((width, box_h), Image.LANCZOS)
    block = Image.new("RGBA", mask.size, ink + (0,))
    block.putalpha(mask)
    return block


def render_plate(
    text: str,
    colour: PlateColour = "white",
    *,
    px_per_mm: float = 1.0,
    font_path: str | None = None,
    bolts: bool = False,
) -> np.ndarray:
    """A front view of the plate (BGR uint8), ``px_per_mm`` pixels per millimetre.

    One-row texts give a 520 x 110 mm car plate, motorbike texts (``"59-X1 123.45"``)
    a 190 x 140 mm plate, car texts written in two rows (``"51C\n123.45"``) a 330 x 165 mm plate.
    ``bolts`` adds the two mounting bolts (beside the text on one-row plates, in the top corners
    on two-row plates): round marks that a recogniser may take for characters.
    """
    plate = parse_plate(text)
    if "\n" in text:  # two-row car and truck plates are 330 x 165 mm
        rows = [r.strip() for r in text.split("\n")]
        w_mm, h_mm = SIZE_MM["motorbike"] if plate.vehicle == "motorbike" else (330, 165)
    elif plate.layout == "two_row":
        rows = plate.text.split(" ")
        w_mm, h_mm = SIZE_MM["motorbike"]
    else:
        rows = [plate.text]
        w_mm, h_mm = SIZE_MM["car"]
    w, h = int(round(w_mm * px_per_mm)), int(round(h_mm * px_per_mm))
    bg, ink = COLOURS[colour]
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    border = max(2, int(round(3 * px_per_mm)))
    inset = max(2, int(round(4 * px_per_mm)))
    draw.rounded_rectangle(
        (inset, inset, w - inset - 1, h - inset - 1), radius=int(8 * px_per_mm), outline=ink, width=border
    )
    margin_x = int(round(18 * px_per_mm))
    if len(rows) == 1:
        block = _text_block(rows[0], w - 2 * margin_x, int(h * 0.72), ink, font_path)
        img.paste(block, ((w - block.width) // 2, (h - block.height) // 2), block)
    else:
        row_h = int(h * 0.36)
        gap = int(h * 0.07)
        y0 = (h - 2 * row_h - gap) // 2
        for i, row in enumerate(rows):
            block = _text_block(row, w - 2 * margin_x, row_h, ink, font_path)
            img.paste(block, ((w - block.width) // 2, y0 + i * (row_h + gap)), block)
    if bolts:
        r = 4 * px_per_mm
        spots = [(0.022, 0.5), (0.978, 0.5)] if len(rows) == 1 else [(0.1, 0.075), (0.9, 0.075)]
        for fx, fy in spots:
            x, y = fx * w, fy * h
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(150, 150, 145), outline=(70, 70, 70), width=max(1, int(r / 3)))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


@dataclass
class PlateSample:
    """One generated crop: what a detector's vehicle box would hand the plate reader.

    ``text`` is None for negative samples (a crop of the same frame without a plate);
    ``quad`` is the plate's corners in the crop (tl, tr, br, bl), None for negatives.
    """

    image: np.ndarray
    text: str | None
    kind: PlateKind | None
    colour: PlateColour | None
    plate_width: int
    quad: np.ndarray | None


def _window(frame: np.ndarray, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    fh, fw = frame.shape[:2]
    if w > fw or h > fh:  # small frames: scale up so the window fits
        s = max(w / fw, h / fh) * 1.05
        frame = cv2.resize(frame, (int(fw * s) + 1, int(fh * s) + 1))
        fh, fw = frame.shape[:2]
    x = int(rng.integers(0, fw - w + 1))
    y = int(rng.integers(0, fh - h + 1))
    return frame[y : y + h, x : x + w].copy()


def _crop_size(kind: PlateKind, plate_width: int, rng: np.random.Generator) -> tuple[int, int]:
    if kind == "car":  # a car's front is 3-4 plate widths wide
        cw = int(plate_width * rng.uniform(2.4, 3.6))
        ch = int(cw * rng.uniform(0.55, 0.85))
    else:  # a motorbike and rider seen from behind are tall and narrow
        cw = int(plate_width * rng.uniform(2.0, 3.0))
        ch = int(cw * rng.uniform(1.2, 1.7))
    return cw, ch


def _degrade(img: np.ndarray, rng: np.random.Generator, *, blur: float, noise: float, jpeg: int) -> np.ndarray:
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if rng.random() < 0.3:  # motion blur along the direction of travel
        length = int(rng.integers(2, 4))
        kernel = np.zeros((length, length), np.float32)
        kernel[:, length // 2] = 1.0 / length
        img = cv2.filter2D(img, -1, kernel)
    if noise > 0:
        img = np.clip(img.astype(np.float32) + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def _lighting(h: int, w: int, rng: np.random.Generator, shadow: float) -> np.ndarray:
    """Per-pixel brightness factor: overall level times a linear shadow across the plate."""
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / w - 0.5) * np.cos(theta) + (yy / h - 0.5) * np.sin(theta) + 0.5
    return rng.uniform(0.6, 1.1) * (1.0 - rng.uniform(0, shadow) * np.clip(ramp, 0, 1))


def make_sample(
    frame: np.ndarray,
    rng: np.random.Generator,
    *,
    kind: PlateKind,
    colour: PlateColour,
    plate_width: int,
    text: str | None = None,
    blur: tuple[float, float] = (0.3, 1.0),
    noise: tuple[float, float] = (2.0, 7.0),
    jpeg: tuple[int, int] = (50, 90),
    max_tilt: float = 0.08,
    font_path: str | None = None,
    bolts: float = 0.5,
    shadow: float = 0.35,
) -> PlateSample:
    """Paste a rendered plate ``plate_width`` pixels wide into a vehicle-sized crop of ``frame``.

    The plate gets mounting bolts with probability ``bolts``, a random perspective
    (corners moved by up to ``max_tilt`` of its width, vertical squash of a camera
    looking down), lighting with a linear shadow darkening one side by up to
    ``shadow``, and then the whole crop blur, noise and JPEG compression within
    the given ranges.
    """
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise PlateCropError("frame must be an HxWx3 uint8 BGR image")
    if not 16 <= plate_width <= 2000:
        raise PlateCropError(f"plate_width {plate_width} px is outside 16..2000")
    text = text or random_plate_text(rng, kind)
    w_mm, h_mm = SIZE_MM[kind]
    # render at about twice the target size, so the warp below only shrinks a little (no aliasing)
    px_per_mm = max(0.5, 2.0 * plate_width / w_mm)
    plate = render_plate(text, colour, px_per_mm=px_per_mm, font_path=font_path, bolts=bool(rng.random() < bolts))
    ph, pw = plate.shape[:2]
    cw, ch = _crop_size(kind, plate_width, rng)
    crop = _window(frame, rng, cw, ch)

    target_w = float(plate_width)
    target_h = target_w * h_mm / w_mm * rng.uniform(0.8, 1.0)  # camera above: vertical squash
    cx = cw * rng.uniform(0.4, 0.6)
    cy = ch * (rng.uniform(0.55, 0.75) if kind == "car" else rng.uniform(0.6, 0.78))
    angle = np.deg2rad(rng.uniform(-5, 5))
    base = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * [target_w, target_h]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    quad = base @ rot.T + [cx, cy]
    quad += rng.uniform(-max_tilt, max_tilt, size=(4, 2)) * [target_w, target_h * 0.5]
    quad = quad.astype(np.float32)
    src = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    lit = np.clip(plate.astype(np.float32) * _lighting(ph, pw, rng, shadow)[..., None], 0, 255).astype(np.uint8)
    warped = cv2.warpPerspective(lit, m, (cw, ch), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (cw, ch), flags=cv2.INTER_AREA)
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    composed = (warped.astype(np.float32) * a + crop.astype(np.float32) * (1 - a)).astype(np.uint8)
    image = _degrade(
        composed,
        rng,
        blur=rng.uniform(*blur),
        noise=rng.uniform(*noise),
        jpeg=int(rng.integers(jpeg[0], jpeg[1] + 1)),
    )
    return PlateSample(image=image, text=text, kind=kind, colour=colour, plate_width=plate_width, quad=quad)


def make_negative(frame: np.ndarray, rng: np.random.Generator, *, kind: PlateKind, plate_width: int) -> PlateSample:
    """A crop of ``frame`` sized as `make_sample` would size it, degraded the same way, with no plate."""
    cw, ch = _crop_size(kind, plate_width, rng)
    crop = _window(frame, rng, cw, ch)
    image = _degrade(crop, rng, blur=rng.uniform(0.3, 1.0), noise=rng.uniform(2, 7), jpeg=int(rng.integers(50, 91)))
    return PlateSample(image=image, text=None, kind=None, colour=None, plate_width=plate_width, quad=None)


def video_frames(path: str | Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` frames read from random positions of a video file (OpenCV)."""
    cap = cv2.VideoCapture(str(path))
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if not cap.isOpened() or total <= 0:
            raise PlateCropError(f"cannot read frames from {path}")
        frames = []
        for index in sorted(rng.choice(total, size=min(count, total), replace=False).tolist()):
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = cap.read()
            if ok:
                frames.append(frame)
        if not frames:
            raise PlateCropError(f"no frame could be decoded from {path}")
        return frames
    finally:
        cap.release()
