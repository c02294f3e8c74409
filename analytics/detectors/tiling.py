"""Tiling: detect on overlapping tiles (plus optionally the full frame) and merge.

A 416 px model sees a 1280 px wide street at a third of its size, where a
motorbike 40 px wide becomes 13 px and is missed. Tiles give it back its pixels.

Two layouts: ``grid`` (rows x cols over the whole frame) and ``scene`` (tiles only over the
bounding box of the camera's lanes, zones and lines, sized so a vehicle ``min_object_px``
tall reaches the model at ``target_px``, at most ``max_tiles`` of them): resolution where
rules look, nothing spent on sky and facades. `tiling_cost` says how many inference passes
a layout makes per frame before anything runs.
Boxes of one object found in two tiles (or in a tile and the full frame) are merged
per class: suppressed when IoU is high, or when the smaller box lies mostly inside
the larger one (an object cut by a tile edge). Among duplicates a box that does not
touch an inner tile edge wins, then the higher score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


Rect = tuple[int, int, int, int]


def scene_tiles(regions: Sequence[np.ndarray], width: int, height: int, config: TilingConfig,
                input_side: int) -> list[Rect]:
    """Square tiles over the bounding box of ``regions`` (polygons in frame pixels).

    The side makes a ``min_object_px`` tall object ``target_px`` tall at a ``input_side`` model
    input; if that needs more than ``max_tiles`` tiles, the side grows until it fits (the
    smallest object seen well is then larger: `tiling_cost` reports it).

    Example::

        >>> cfg = TilingConfig(enabled=True, mode="scene", min_object_px=24, target_px=32, max_tiles=4)
        >>> scene_tiles([np.array([[0, 400], [1280, 400], [1280, 720], [0, 720]])], 1280, 720, cfg, 416)
        [(0, 400, 377, 720), (301, 400, 678, 720), (602, 400, 979, 720), (902, 400, 1279, 720)]
    """
    if not regions:
        return []
    pts = np.concatenate([np.asarray(r, np.float64).reshape(-1, 2) for r in regions])
    x1, y1 = max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min()))
    x2, y2 = min(width, int(math.ceil(pts[:, 0].max()))), min(height, int(math.ceil(pts[:, 1].max())))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return []
    side = input_side * config.min_object_px / config.target_px
    o = config.overlap
    while True:
        side = min(side, max(width, height))
        cols = max(1, math.ceil((x2 - x1 - side * o) / (side * (1 - o)))) if x2 - x1 > side else 1
        rows = max(1, math.ceil((y2 - y1 - side * o) / (side * (1 - o)))) if y2 - y1 > side else 1
        if cols * rows <= config.max_tiles or side >= max(width, height):
            break
        side *= 1.1
    tw, th = min(side, x2 - x1), min(side, y2 - y1)
    out = []
    for r in range(rows):
        for c in range(cols):
            tx = x1 + (0 if cols == 1 else round(c * (x2 - x1 - tw) / (cols - 1)))
            ty = y1 + (0 if rows == 1 else round(r * (y2 - y1 - th) / (rows - 1)))
            out.append((int(tx), int(ty), int(min(width, tx + tw)), int(min(height, ty + th))))
    return out


def tiling_cost(config: TilingConfig, width: int, height: int, input_side: int,
                regions: Sequence[np.ndarray] = ()) -> dict[str, Any]:
    """Inference passes per frame of a tiling layout and the smallest object it sees well.

    Example::

        >>> tiling_cost(TilingConfig(enabled=True, rows=2, cols=4), 1280, 720, 416)["passes"]
        9
    """
    if not config.enabled:
        return {"passes": 1, "tiles": [], "min_object_px": round(config.target_px * max(width, height) / input_side, 1)}
    if config.mode == "scene":
        tiles = scene_tiles(regions, width, height, config, input_side)
    else:
        tiles = tile_grid(width, height, config.rows, config.cols, config.overlap)
    biggest = max((max(t[2] - t[0], t[3] - t[1]) for t in tiles), default=max(width, height))
    return {"passes": len(tiles) + (1 if config.full_frame or not tiles else 0), "tiles": tiles,
            "min_object_px": round(config.target_px * biggest / input_side, 1)}


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

    def __init__(self, inner: Detector, config: TilingConfig,
                 tiles: Callable[[int, int], list[Rect]] | None = None) -> None:
        """``tiles(width, height)`` gives the tile rectangles of a frame; default: the config's grid."""
        self.inner = inner
        self.kind = inner.kind
        self.config = config
        self.tiles = tiles or (lambda w, h: tile_grid(w, h, config.rows, config.cols, config.overlap))

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
            rects = self.tiles(w, h)
            if cfg.full_frame or not rects:
                crops.append(frame)
                plan.append((fi, None))
            for rect in rects:
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
            shift = np.array([x1, y1, x1, y1], np.float32)
            data = {k: (v + shift if k.endswith("_xyxy") else v) for k, v in det.data.items()}  # e.g. rider boxes
            moved = Detections(det.xyxy + shift, det.confidence, det.class_id, det.tracker_id, data)
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
