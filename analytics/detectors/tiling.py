"""Tiling: detect on overlapping tiles (plus optionally the full frame) and merge.

A 416 px model sees a 1280 px wide street at a third of its size, where a
motorbike 40 px wide becomes 13 px and is missed. Tiles give it back its pixels.
Boxes of one object found in two tiles (or in a tile and the full frame) are merged
per class: suppressed when IoU is high, or when the smaller box lies mostly inside
the larger one (an object cut by a tile edge). Among duplicates a box that does not
touch an inner tile edge wins, then the higher score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.detections import Detections
from analytics.detectors.base import Detector, check_frame
from analytics.detectors.config import TilingConfig

EDGE_PX = 2.0


def tile_grid(width: int, height: int, rows: int, cols: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Tile rectangles (x1, y1, x2, y2) covering the frame with the given overlap.

    Example::

        >>> tile_grid(100, 50, 1, 2, 0.2)
        [(0, 0, 56, 50), (44, 0, 100, 50)]
    """
    out = []
    tw = width / (cols - (cols - 1) * overlap)
    th = height / (rows - (rows - 1) * overlap)
    for r in range(rows):
        for c in range(cols):
            x1 = int(round(c * tw * (1 - overlap)))
            y1 = int(round(r * th * (1 - overlap)))
            out.append((x1, y1, min(width, int(round(x1 + tw))), min(height, int(round(y1 + th)))))
    return out


def merge_detections(dets: Detections, cut: np.ndarray, iou_thr: float, ios_thr: float) -> Detections:
    """Greedy class-wise merge; ``cut`` marks boxes touching an inner tile edge (they lose ties)."""
    if len(dets) == 0:
        return dets
    order = np.lexsort((-dets.confidence, cut.astype(np.int8)))  # uncut first, then by score
    xyxy, cls, area = dets.xyxy, dets.class_id, dets.area
    suppressed = np.zeros(len(dets), dtype=bool)
    keep = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1 :]
        rest = rest[(cls[rest] == cls[i]) & ~suppressed[rest]]
        if len(rest) == 0:
            continue
        ix1 = np.maximum(xyxy[i, 0], xyxy[rest, 0])
        iy1 = np.maximum(xyxy[i, 1], xyxy[rest, 1])
        ix2 = np.minimum(xyxy[i, 2], xyxy[rest, 2])
        iy2 = np.minimum(xyxy[i, 3], xyxy[rest, 3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        union = area[i] + area[rest] - inter
        iou = inter / np.maximum(union, 1e-6)
        ios = inter / np.maximum(np.minimum(area[i], area[rest]), 1e-6)
        suppressed[rest[(iou > iou_thr) | (ios > ios_thr)]] = True
    return dets[np.sort(np.asarray(keep))]


class TiledDetector(Detector):
    """Wraps a detector: runs it on each tile (and the full frame) and merges the boxes.

    Example::

        det = TiledDetector(YoloxDetector(cfg), TilingConfig(enabled=True, rows=2, cols=4))
        det.detect(frame_1280x720)     # boxes in full-frame pixels
    """

    def __init__(self, inner: Detector, config: TilingConfig) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.config = config

    @property
    def info(self) -> dict[str, Any]:
        return self.inner.info

    def detect(self, frame: np.ndarray) -> Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        cfg = self.config
        crops: list[np.ndarray] = []
        plan: list[tuple[int, tuple[int, int, int, int] | None]] = []
        for fi, frame in enumerate(frames):
            check_frame(frame)
            h, w = frame.shape[:2]
            if cfg.full_frame:
                crops.append(frame)
                plan.append((fi, None))
            for rect in tile_grid(w, h, cfg.rows, cfg.cols, cfg.overlap):
                x1, y1, x2, y2 = rect
                crops.append(np.ascontiguousarray(frame[y1:y2, x1:x2]))
                plan.append((fi, rect))
        results = self.inner.detect_batch(crops)  # one batched model call where the model allows it
        per_frame: list[list[tuple[Detections, np.ndarray]]] = [[] for _ in frames]
        for (fi, rect), det in zip(plan, results, strict=True):
            if rect is None:
                per_frame[fi].append((det, np.zeros(len(det), dtype=bool)))
                continue
            x1, y1, x2, y2 = rect
            fh, fw = frames[fi].shape[:2]
            moved = Detections(det.xyxy + np.array([x1, y1, x1, y1], np.float32), det.confidence, det.class_id, det.tracker_id, det.data)
            b = moved.xyxy
            # touching a tile edge that is not also the frame edge: the object may be cut
            cut = ((b[:, 0] <= x1 + EDGE_PX) & (x1 > 0)) | ((b[:, 1] <= y1 + EDGE_PX) & (y1 > 0))
            cut |= ((b[:, 2] >= x2 - EDGE_PX) & (x2 < fw)) | ((b[:, 3] >= y2 - EDGE_PX) & (y2 < fh))
            per_frame[fi].append((moved, cut))
        out = []
        for parts in per_frame:
            merged = Detections.merge(d for d, _ in parts)
            cut = np.concatenate([c for d, c in parts if len(d)]) if len(merged) else np.zeros(0, bool)
            out.append(merge_detections(merged, cut, cfg.merge_iou, cfg.merge_ios))
        return out

    def close(self) -> None:
        self.inner.close()
