"""Detection quality against labelled boxes: per-class TP/FP/FN, recall, precision, AP50.

Pure computation on arrays (no I/O). Matching is Pascal VOC's: per image and class,
detections are taken by descending score; each goes to the ground-truth box it
overlaps most, and is a true positive when that IoU is at least the threshold (0.5)
and the box is not taken yet, else a false positive (a duplicate of a found object
is a false positive). AP is the area under the precision-recall curve with all-point
interpolation (VOC 2010 and later), the curve taken at every distinct score, so tied
scores make one point. `recall_at_precision` reads goals such as "motorbike recall
>= 0.90 at precision >= 0.90" off the same curve, with the score threshold that gives it.

Labels are often incomplete (far vehicles left unboxed): `Evaluation.add` takes a
``dont_care`` mask of detections that, when they match no label, count as neither
true nor false positives; detections that match a label count as usual.

Example::

    >>> import numpy as np
    >>> ev = Evaluation(["car"])
    >>> ev.add(gt_xyxy=[[0, 0, 10, 10]], gt_class=["car"],
    ...        det_xyxy=[[0, 0, 10, 9], [50, 50, 60, 60]], det_score=[0.9, 0.4], det_class=["car", "car"])
    >>> f = ev.figures(confidence=0.3)["car"]
    >>> f.tp, f.fp, f.fn, f.recall, f.precision, f.ap50
    (1, 1, 0, 1.0, 0.5, 1.0)
    >>> f.recall_at_precision, f.threshold_at_precision
    (1.0, 0.9)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ClassFigures", "Evaluation", "average_precision", "box_iou", "match_detections", "pr_curve",
           "recall_at_precision"]


def box_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """IoU of every box in ``a`` (N x 4, x1 y1 x2 y2) with every box in ``b`` (M x 4): N x M.

    Example::

        >>> box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]).round(3).tolist()
        [[0.333, 0.0]]
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_detections(det_xyxy: ArrayLike, det_score: ArrayLike, gt_xyxy: ArrayLike,
                     iou_threshold: float = 0.5) -> np.ndarray:
    """VOC matching of one image's detections of one class: True where a detection is a true positive.

    The result is in the order of ``det_xyxy``; ties in score keep the given order.

    Example::

        >>> match_detections([[0, 0, 10, 10], [1, 0, 10, 10]], [0.6, 0.8], [[0, 0, 10, 10]]).tolist()
        [False, True]
    """
    det = np.asarray(det_xyxy, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    score = np.asarray(det_score, dtype=np.float64).reshape(-1)
    if len(score) != len(det):
        raise ValueError(f"{len(det)} boxes but {len(score)} scores")
    tp = np.zeros(len(det), dtype=bool)
    if len(det) == 0 or len(gt) == 0:
        return tp
    iou = box_iou(det, gt)
    taken = np.zeros(len(gt), dtype=bool)
    for d in np.argsort(-score, kind="stable"):
        g = int(iou[d].argmax())
        if iou[d, g] >= iou_threshold and not taken[g]:
            taken[g] = True
            tp[d] = True
    return tp


def pr_curve(score: ArrayLike, tp: ArrayLike, n_gt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recall, precision, threshold) at every distinct score, highest threshold first.

    Point k counts the detections scoring at least ``threshold[k]``.

    Example::

        >>> r, p, t = pr_curve([0.9, 0.8, 0.7], [True, False, True], n_gt=4)
        >>> r.tolist(), p.round(3).tolist(), t.tolist()
        ([0.25, 0.25, 0.5], [1.0, 0.5, 0.667], [0.9, 0.8, 0.7])
    """
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    t = np.asarray(tp, dtype=bool).reshape(-1)
    if len(s) != len(t):
        raise ValueError(f"{len(s)} scores but {len(t)} match flags")
    if len(s) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    ctp = np.cumsum(t)
    cdet = np.arange(1, len(s) + 1)
    last = np.r_[s[1:] != s[:-1], True]  # the end of each group of tied scores
    recall = ctp[last] / n_gt if n_gt > 0 else np.zeros(int(last.sum()))
    return recall.astype(np.float64), (ctp[last] / cdet[last]).astype(np.float64), s[last]


def average_precision(recall: ArrayLike, precision: ArrayLike) -> float:
    """Area under the precision-recall curve, all-point interpolated (VOC 2010+).

    Precision at recall r is the best precision at any recall >= r; points are given by
    increasing recall (as `pr_curve` returns them).

    Example::

        >>> round(average_precision([0.25, 0.25, 0.5], [1.0, 0.5, 2 / 3]), 4)
        0.4167
    """
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64).reshape(-1), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64).reshape(-1), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    step = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))


def recall_at_precision(recall: ArrayLike, precision: ArrayLike, threshold: ArrayLike,
                        min_precision: float = 0.9) -> tuple[float, float | None]:
    """The highest recall whose precision is at least ``min_precision``, and the score threshold
    giving it; ``(0.0, None)`` when no threshold reaches that precision.

    Example::

        >>> recall_at_precision([0.25, 0.25, 0.5], [1.0, 0.5, 2 / 3], [0.9, 0.8, 0.7], min_precision=0.6)
        (0.5, 0.7)
    """
    r = np.asarray(recall, dtype=np.float64).reshape(-1)
    p = np.asarray(precision, dtype=np.float64).reshape(-1)
    t = np.asarray(threshold, dtype=np.float64).reshape(-1)
    ok = np.flatnonzero(p >= min_precision - 1e-12)
    if len(ok) == 0:
        return 0.0, None
    best = ok[np.argmax(r[ok])]  # the first (highest threshold) among equal recalls
    return float(r[best]), float(t[best])


@dataclass(frozen=True)
class ClassFigures:
    """One class's figures. Counts and ``recall``/``precision`` are at ``confidence``; ``ap50``
    and ``recall_at_precision`` use every detection given. None where undefined (no labels,
    no detections)."""

    name: str
    n_gt: int
    tp: int
    fp: int
    fn: int
    recall: float | None
    precision: float | None
    ap50: float | None
    recall_at_precision: float | None
    threshold_at_precision: float | None
    min_precision: float
    confidence: float
    dont_care: int
    """unmatched detections at ``confidence`` left out by the ``dont_care`` mask"""


class Evaluation:
    """Accumulates images, then gives per-class figures.

    Class labels may be names or ids, anything comparable with ``==`` (numpy arrays of them).
    Detections of classes not in ``classes`` are ignored.

    Example::

        >>> ev = Evaluation(["motorbike"], iou_threshold=0.5)
        >>> ev.add([[0, 0, 10, 10], [20, 0, 30, 10]], ["motorbike"] * 2, [[0, 0, 10, 10]], [0.8], ["motorbike"])
        >>> f = ev.figures()["motorbike"]
        >>> f.recall, f.precision, f.ap50
        (0.5, 1.0, 0.5)
    """

    def __init__(self, classes: Sequence[Hashable], iou_threshold: float = 0.5) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold {iou_threshold} must be in (0, 1]")
        self.classes = list(classes)
        self.iou_threshold = iou_threshold
        self.images = 0
        self._n_gt = {c: 0 for c in self.classes}
        self._score: dict[Hashable, list[np.ndarray]] = {c: [] for c in self.classes}
        self._tp: dict[Hashable, list[np.ndarray]] = {c: [] for c in self.classes}
        self._ignored: dict[Hashable, list[np.ndarray]] = {c: [] for c in self.classes}

    def add(self, gt_xyxy: ArrayLike, gt_class: ArrayLike, det_xyxy: ArrayLike, det_score: ArrayLike,
            det_class: ArrayLike, dont_care: ArrayLike | None = None) -> None:
        """Add one image: its labelled boxes and classes, the detections with scores and classes.

        ``dont_care`` (bool per detection): such a detection, if it matches no label,
        is dropped instead of counting as a false positive.
        """
        gt = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
        gcls = np.asarray(gt_class).reshape(-1)
        det = np.asarray(det_xyxy, dtype=np.float64).reshape(-1, 4)
        score = np.asarray(det_score, dtype=np.float64).reshape(-1)
        dcls = np.asarray(det_class).reshape(-1)
        care = np.zeros(len(det), dtype=bool) if dont_care is None else np.asarray(dont_care, dtype=bool).reshape(-1)
        if len(gcls) != len(gt):
            raise ValueError(f"{len(gt)} labelled boxes but {len(gcls)} classes")
        if not len(det) == len(score) == len(dcls) == len(care):
            raise ValueError(f"detections: {len(det)} boxes, {len(score)} scores, {len(dcls)} classes, "
                             f"{len(care)} dont_care flags")
        self.images += 1
        for c in self.classes:
            g = gt[gcls == c] if len(gcls) else gt[:0]
            sel = dcls == c if len(dcls) else np.zeros(0, dtype=bool)
            tp = match_detections(det[sel], score[sel], g, self.iou_threshold)
            self._n_gt[c] += len(g)
            self._score[c].append(score[sel])
            self._tp[c].append(tp)
            self._ignored[c].append(care[sel] & ~tp)

    def figures(self, confidence: float = 0.0, min_precision: float = 0.9) -> dict[Hashable, ClassFigures]:
        """Per class: counts, recall and precision at ``confidence``; AP50 and the best recall at
        ``min_precision`` over all detections added."""
        out: dict[Hashable, ClassFigures] = {}
        for c in self.classes:
            n_gt = self._n_gt[c]
            score = np.concatenate(self._score[c]) if self._score[c] else np.zeros(0)
            tp = np.concatenate(self._tp[c]) if self._tp[c] else np.zeros(0, dtype=bool)
            ignored = np.concatenate(self._ignored[c]) if self._ignored[c] else np.zeros(0, dtype=bool)
            above = score >= confidence
            n_tp = int((tp & above).sum())
            n_fp = int((~tp & ~ignored & above).sum())
            counted = ~ignored
            if n_gt:
                r, p, t = pr_curve(score[counted], tp[counted], n_gt)
                ap: float | None = average_precision(r, p)
                rp, tp_thr = recall_at_precision(r, p, t, min_precision)
            else:
                ap, rp, tp_thr = None, None, None
            out[c] = ClassFigures(
                name=str(c), n_gt=n_gt, tp=n_tp, fp=n_fp, fn=n_gt - n_tp,
                recall=n_tp / n_gt if n_gt else None,
                precision=n_tp / (n_tp + n_fp) if n_tp + n_fp else None,
                ap50=ap, recall_at_precision=rp, threshold_at_precision=tp_thr,
                min_precision=min_precision, confidence=confidence,
                dont_care=int((ignored & above).sum()),
            )
        return out
