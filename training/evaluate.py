"""Per-class recall and precision at IoU 0.5 on held-out images, decoded like the detector.

Detections are kept at the detector's defaults (score = objectness x class >= 0.3,
class-agnostic NMS at IoU 0.45), then matched greedily by score to unmatched
ground-truth boxes of the same class at IoU >= 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from training.augment import letterbox
from training.dataset import Sample


def decode_np(raw: np.ndarray, input_hw: tuple[int, int], confidence: float = 0.3,
              nms_iou: float = 0.45) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's exported-layout output (A x 5+C) -> (xyxy in input pixels, scores, class ids)."""
    from training.model import STRIDES

    grids, strides = [], []
    for s in STRIDES:
        ys, xs = np.meshgrid(np.arange(input_hw[0] // s), np.arange(input_hw[1] // s), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full(grids[-1].shape[0], s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)[:, None]
    scores_all = raw[:, 5:] * raw[:, 4:5]
    cls = scores_all.argmax(1)
    score = scores_all[np.arange(len(cls)), cls]
    keep = score >= confidence
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    r, score, cls = raw[keep], score[keep], cls[keep]
    cxy = (r[:, :2] + grid[keep]) * stride[keep]
    wh = np.exp(np.minimum(r[:, 2:4], 10.0)) * stride[keep]
    xywh = np.concatenate([cxy - wh / 2, wh], 1)
    idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), confidence, nms_iou), np.int64).reshape(-1)
    xyxy = np.concatenate([xywh[idx, :2], xywh[idx, :2] + xywh[idx, 2:]], 1)
    return xyxy.astype(np.float32), score[idx].astype(np.float32), cls[idx].astype(np.int64)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    aa = (a[:, 2:] - a[:, :2]).prod(-1)
    ab = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (aa[:, None] + ab[None] - inter + 1e-9)


def measure(predict: Callable[[np.ndarray], np.ndarray], samples: Sequence[Sample], classes: list[str],
            input_hw: tuple[int, int], confidence: float = 0.3, iou: float = 0.5) -> dict:
    """``predict(tensor 1x3xHxW float32) -> A x (5+C)``; returns per-class and overall figures."""
    nc = len(classes)
    tp, n_det, n_gt = np.zeros(nc, int), np.zeros(nc, int), np.zeros(nc, int)
    for s in samples:
        img = cv2.imread(str(s.image))
        boxed, r = letterbox(img, input_hw)
        tensor = boxed.transpose(2, 0, 1)[None].astype(np.float32)
        boxes, scores, cls = decode_np(predict(tensor), input_hw, confidence)
        boxes = boxes / r
        for c in range(nc):
            gt = s.boxes[s.labels == c]
            det = boxes[cls == c][np.argsort(-scores[cls == c])]
            n_gt[c] += len(gt)
            n_det[c] += len(det)
            if len(gt) == 0 or len(det) == 0:
                continue
            m = _iou(det, gt)
            used = np.zeros(len(gt), bool)
            for d in range(len(det)):
                cand = np.where(~used & (m[d] >= iou))[0]
                if len(cand):
                    used[cand[m[d, cand].argmax()]] = True
                    tp[c] += 1
    per = {}
    for c, name in enumerate(classes):
        per[name] = {"gt": int(n_gt[c]), "det": int(n_det[c]), "tp": int(tp[c]),
                     "recall": round(tp[c] / n_gt[c], 3) if n_gt[c] else None,
                     "precision": round(tp[c] / n_det[c], 3) if n_det[c] else None}
    T, D, G = int(tp.sum()), int(n_det.sum()), int(n_gt.sum())
    return {"images": len(samples), "iou": iou, "confidence": confidence, "classes": per,
            "all": {"gt": G, "det": D, "tp": T, "recall": round(T / G, 3) if G else None,
                    "precision": round(T / D, 3) if D else None}}


def format_figures(fig: dict) -> str:
    """One line per class: recall / precision (tp/gt, tp/det)."""
    lines = []
    for name, f in list(fig["classes"].items()) + [("all", fig["all"])]:
        r = "-" if f["recall"] is None else f"{f['recall']:.3f}"
        p = "-" if f["precision"] is None else f"{f['precision']:.3f}"
        lines.append(f"  {name:10} recall {r} ({f['tp']}/{f['gt']})  precision {p} ({f['tp']}/{f['det']})")
    return "\n".join(lines)
