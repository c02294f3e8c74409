"""Per-class recall and precision at IoU 0.5 on held-out images, decoded like the detector.

Detections are kept at the detector's defaults (score = objectness x class >= 0.3,
class-agnostic NMS at IoU 0.45), then matched greedily by score to unmatched
ground-truth boxes of the same class at IoU >= 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from analytics.detectors.yolox import anchor_boxes, anchor_grid
from analytics.evaluation import Evaluation
from training.augment import letterbox
from training.dataset import Sample


def decode_np(raw: np.ndarray, input_hw: tuple[int, int], confidence: float = 0.3,
              nms_iou: float = 0.45) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's exported-layout output (A x 5+C) -> (xyxy in input pixels, scores, class ids),
    decoded by the edge detector's own anchor functions."""
    grid, stride = anchor_grid(*input_hw)
    scores_all = raw[:, 5:] * raw[:, 4:5]
    cls = scores_all.argmax(1)
    score = scores_all[np.arange(len(cls)), cls]
    keep = score >= confidence
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    score, cls = score[keep], cls[keep]
    xywh = anchor_boxes(raw[keep], grid[keep], stride[keep])
    idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), confidence, nms_iou), np.int64).reshape(-1)
    xyxy = np.concatenate([xywh[idx, :2], xywh[idx, :2] + xywh[idx, 2:]], 1)
    return xyxy.astype(np.float32), score[idx].astype(np.float32), cls[idx].astype(np.int64)


def measure(predict: Callable[[np.ndarray], np.ndarray], samples: Sequence[Sample], classes: list[str],
            input_hw: tuple[int, int], confidence: float = 0.3, iou: float = 0.5) -> dict:
    """``predict(tensor 1x3xHxW float32) -> A x (5+C)``; returns per-class and overall figures
    (matched like every other figure of the project, `analytics.evaluation`)."""
    ev = Evaluation(list(range(len(classes))), iou_threshold=iou)
    for s in samples:
        img = cv2.imread(str(s.image))
        boxed, r = letterbox(img, input_hw)
        tensor = boxed.transpose(2, 0, 1)[None].astype(np.float32)
        boxes, scores, cls = decode_np(predict(tensor), input_hw, confidence)
        ev.add(s.boxes, s.labels, boxes / r, scores, cls)
    figures = ev.figures(confidence=confidence)
    per = {}
    for c, name in enumerate(classes):
        f = figures[c]
        per[name] = {"gt": f.n_gt, "det": f.tp + f.fp, "tp": f.tp,
                     "recall": round(f.recall, 3) if f.recall is not None else None,
                     "precision": round(f.precision, 3) if f.precision is not None else None}
    T, D, G = (sum(p[k] for p in per.values()) for k in ("tp", "det", "gt"))
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
