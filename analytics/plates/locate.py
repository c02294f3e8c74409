"""Where the plate is in a vehicle crop: plate hypotheses made of one or two text rows.

Two locators, compared in `bench.plates` (docs/plates.md has the figures):

- ``text``: PaddleOCR's text detector (in `ocr.PaddleOCRModels.detect`) finds
  text lines; `from_text_lines` groups them into plates (one line; two stacked
  lines of similar width; two neighbours on one line, split at the dash; a squat
  block cut into two rows);
- ``contour``: a classic morphology finder, `find_text_blocks`: horizontal
  gradients, closed with a wide kernel into blobs, kept when the blob has a
  plate's proportions; squat blobs are cut into rows at the emptiest scan line.

Example::

    >>> blocks = find_text_blocks(crop)                  # doctest: +SKIP
    >>> hyps = from_blocks(crop, blocks)                 # doctest: +SKIP
    >>> [len(h.rows) for h in hyps]                      # doctest: +SKIP
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from analytics.plates.ocr import Line


@dataclass(frozen=True)
class Hypothesis:
    """A possible plate: its text rows (top first) as quads (tl, tr, br, bl) and its outline."""

    rows: tuple[np.ndarray, ...]
    outline: np.ndarray


def order_quad(points: np.ndarray) -> np.ndarray:
    """Four points ordered tl, tr, br, bl."""
    p = np.asarray(points, np.float32)
    s, d = p.sum(axis=1), np.diff(p, axis=1).ravel()
    return np.array([p[s.argmin()], p[d.argmin()], p[s.argmax()], p[d.argmax()]], np.float32)


def union_quad(quads: Sequence[np.ndarray]) -> np.ndarray:
    """The smallest rotated rectangle around several quads."""
    return order_quad(cv2.boxPoints(cv2.minAreaRect(np.concatenate(quads).astype(np.float32))))


def split_at(quad: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The quad cut along a line ``fraction`` of the way down: top part, bottom part."""
    tl, tr, br, bl = np.asarray(quad, np.float32)
    ml, mr = tl + (bl - tl) * fraction, tr + (br - tr) * fraction
    return np.array([tl, tr, mr, ml], np.float32), np.array([ml, mr, br, bl], np.float32)


def _same_line(a: Line, b: Line) -> bool:
    """``b`` continues ``a`` on the same text line (the detector split a row at a dash, a dot or a gap)."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    h = (a.height + b.height) / 2
    overlap_y = min(ay1, by1) - max(ay0, by0)
    return ax0 < bx0 and overlap_y > 0.6 * min(a.height, b.height) and bx0 - ax1 < 1.5 * h


def _stacked(a: Line, b: Line) -> bool:
    """``b`` is the row under ``a`` on one plate: overlapping columns, close, of similar height."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    h = (a.height + b.height) / 2
    overlap_x = min(ax1, bx1) - max(ax0, bx0)
    return (
        (ay0 + ay1) < (by0 + by1)
        and overlap_x > 0.5 * min(a.width, b.width)
        and by0 - ay1 < 0.8 * h
        and 0.6 < a.height / max(b.height, 1.0) < 1.6
    )


def from_text_lines(lines: Sequence[Line], image: np.ndarray | None = None) -> list[Hypothesis]:
    """Plate hypotheses from the text detector's lines.

    Rows are the detector's lines and every pair of neighbours on one line joined (a row the
    detector cut in two: "67" and "13", or "59" and "-H1"); a plate is one row, or two rows stacked.
    A squat line is also cut into two rows, but with ``image`` only where a gap between two rows of
    text is seen in it (`_row_split`): a single squat row ("8428") cut in half reads the same text
    twice, and the two halves pair up into a valid-looking two-row plate.
    """
    hyps: list[Hypothesis] = []
    rows: list[tuple[Line, frozenset[int]]] = [(ln, frozenset({i})) for i, ln in enumerate(lines)]
    for i, a in enumerate(lines):
        for j, b in enumerate(lines):
            if i != j and _same_line(a, b):
                rows.append((Line(union_quad([a.quad, b.quad])), frozenset({i, j})))
    for ln, _parts in rows:
        hyps.append(Hypothesis((ln.quad,), ln.quad))
        if ln.height > 0.45 * ln.width:  # squat block: maybe both rows of a motorbike plate
            at = 0.5 if image is None else _row_split(image, ln.quad)
            if at is not None:
                hyps.append(Hypothesis(split_at(ln.quad, at), ln.quad))
    for a, pa in rows:
        for b, pb in rows:
            if not pa & pb and _stacked(a, b):
                hyps.append(Hypothesis((a.quad, b.quad), union_quad([a.quad, b.quad])))
    return hyps


GAP_RATIO = 0.6
"""A two-row block splits where a scan line has under this share of the rows' median stroke energy
(real crops: 0.25-0.5 between the rows of a two-row plate, 0.9-1.0 inside one squat row)."""


def _row_split(crop: np.ndarray, quad: np.ndarray) -> float | None:
    """Where (fraction of height) a two-row block splits: the emptiest scan line in its middle band.

    None when that line is not empty enough to be the gap between two rows of text (one tall row).
    """
    w = int(max(16, np.linalg.norm(quad[1] - quad[0])))
    h = int(max(16, np.linalg.norm(quad[3] - quad[0])))
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    patch = cv2.warpPerspective(crop, cv2.getPerspectiveTransform(np.asarray(quad, np.float32), dst), (w, h))
    gray = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    edges = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)).mean(axis=1)
    lo, hi = int(h * 0.3), int(h * 0.7)
    if hi - lo < 2:
        return None
    profile = np.convolve(edges, np.ones(3) / 3, mode="same")
    at = lo + int(profile[lo:hi].argmin())
    rows_energy = float(np.median(np.concatenate([profile[int(h * 0.1) : lo], profile[hi : int(h * 0.9)]])))
    if rows_energy <= 0 or profile[at] > GAP_RATIO * rows_energy:
        return None
    return at / h


def find_text_blocks(crop: np.ndarray, *, max_blocks: int = 4) -> list[np.ndarray]:
    """Quads of blobs of dense vertical strokes with a plate's proportions, strongest first."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    grad = cv2.normalize(grad, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    _t, binary = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    found: list[tuple[float, np.ndarray]] = []
    # the plate's size in the crop is unknown: try closing kernels for a few character sizes
    for frac in (0.02, 0.035, 0.05):
        kx = max(3, int(w * frac))
        closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, max(3, kx // 2))))
        closed = cv2.morphologyEx(closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(c)
            long, short = max(rw, rh), min(rw, rh)
            if short < 8 or long < 24 or long > 0.9 * w:
                continue
            aspect = long / short
            if not (1.0 <= aspect <= 2.2 or 2.8 <= aspect <= 8.0):
                continue
            fill = cv2.contourArea(c) / (rw * rh)
            if fill < 0.55:
                continue
            quad = order_quad(cv2.boxPoints(((cx, cy), (rw, rh), angle)))
            if abs(np.degrees(np.arctan2(*(quad[1] - quad[0])[::-1]))) > 20:  # plates are roughly level
                continue
            mask = np.zeros_like(binary)
            cv2.drawContours(mask, [c], -1, 255, -1)
            density = float(binary[mask > 0].mean()) / 255.0
            found.append((density * fill, quad))
    found.sort(key=lambda f: -f[0])
    kept: list[np.ndarray] = []
    for _score, quad in found:
        box = cv2.boundingRect(quad.astype(np.int32))
        if all(_iou(box, cv2.boundingRect(k.astype(np.int32))) < 0.5 for k in kept):
            kept.append(quad)
        if len(kept) >= max_blocks:
            break
    return kept


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter + 1e-6)


def from_blocks(crop: np.ndarray, blocks: Sequence[np.ndarray]) -> list[Hypothesis]:
    """Plate hypotheses from `find_text_blocks`: each block as one row, squat blocks also as two rows."""
    hyps: list[Hypothesis] = []
    for quad in blocks:
        width = np.linalg.norm(quad[1] - quad[0])
        height = np.linalg.norm(quad[3] - quad[0])
        hyps.append(Hypothesis((quad,), quad))
        if height > 0.45 * width:
            at = _row_split(crop, quad)
            if at is not None:
                hyps.append(Hypothesis(split_at(quad, at), quad))
    return hyps


def widen(hyp: Hypothesis, by: float = 0.6) -> Hypothesis:
    """The hypothesis with every row stretched by ``by`` of its height at both ends.

    Text detectors sometimes start a line one character late (a glyph touching
    the plate border); one character is about 0.6 of the row height.
    """
    rows = []
    for quad in hyp.rows:
        q = np.asarray(quad, np.float32)
        u = (q[1] - q[0]) / max(float(np.linalg.norm(q[1] - q[0])), 1e-3)
        height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
        d = u * by * height
        rows.append((q + np.array([-d, d, d, -d], np.float32)).astype(np.float32))
    return Hypothesis(tuple(rows), union_quad(rows))
