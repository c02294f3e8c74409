"""Road-user fusion: a COCO model's rider and two-wheeler become one ``motorbike`` (or ``bicycle``).

Vietnamese traffic is motorbikes with one to three riders. A COCO model boxes the rider as
``person`` and the bike (when it sees it at all) as ``motorcycle``, ``bicycle`` or, for a
scooter seen from behind, a narrow ``car``. Violations are about the vehicle with its
rider, and a rider is not a pedestrian: a ``pedestrian`` box that rides (stands on the
upper part of) a two-wheeler or narrow car box is merged into it. The merged box is the
union of both, its class ``motorbike`` (``bicycle`` for a bicycle), its confidence the
two combined (noisy-OR); the rider's own box stays in ``data["rider_xyxy"]`` (NaN where none)
for the helmet rule and ``data["riders"]`` counts them. A model fine-tuned on
Vietnamese labels boxes bike and rider at once; fusion then finds no riders to merge.

Example::

    fused = fuse_road_users(dets, FusionConfig())
    fused.class_names            # ['motorbike', 'pedestrian'] (the rider merged, a walker kept)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from analytics.classes import CLASS_IDS, ClassNames, family_of
from analytics.detections import Detections
from analytics.detectors.base import Detector
from analytics.detectors.config import FusionConfig

PEDESTRIAN = CLASS_IDS["pedestrian"]
MOTORBIKE = CLASS_IDS["motorbike"]
BICYCLE = CLASS_IDS["bicycle"]
CAR = CLASS_IDS["car"]


def fuse_road_users(dets: Detections, config: FusionConfig) -> Detections:
    """``dets`` with each rider merged into its vehicle; adds ``rider_xyxy`` and ``riders`` data."""
    n = len(dets)
    riders_box = np.full((n, 4), np.nan, dtype=np.float32)
    riders_n = np.zeros(n, dtype=np.int64)
    if n == 0 or not config.enabled:
        return _with_rider_data(dets, riders_box, riders_n)
    xyxy, cls = dets.xyxy, dets.class_id
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    host = (cls == MOTORBIKE) | (cls == BICYCLE) | ((cls == CAR) & (w < config.narrow_car_aspect * h))
    peds = np.flatnonzero(cls == PEDESTRIAN)
    hosts = np.flatnonzero(host)
    if len(peds) == 0 or len(hosts) == 0:
        return _with_rider_data(dets, riders_box, riders_n)
    p, v = xyxy[peds][:, None, :], xyxy[hosts][None, :, :]
    pw = np.maximum(p[..., 2] - p[..., 0], 1e-3)
    vh = np.maximum(v[..., 3] - v[..., 1], 1e-3)
    cover = np.clip(np.minimum(p[..., 2], v[..., 2]) - np.maximum(p[..., 0], v[..., 0]), 0, None) / pw
    top = (p[..., 1] - v[..., 1]) / vh
    foot = (p[..., 3] - v[..., 1]) / vh
    ok = (cover >= config.min_cover) & (top <= config.max_top) & (foot >= config.min_foot) & (foot <= config.max_foot)
    # A rider is no more than ~3 bikes tall and not much wider than the bike.
    ok &= (p[..., 3] - p[..., 1]) <= 3.5 * vh
    ok &= pw <= 1.6 * np.maximum(v[..., 2] - v[..., 0], 1e-3)
    # Each rider goes to the vehicle it covers best; each vehicle takes at most max_riders.
    score = np.where(ok, cover - 0.1 * np.abs(foot - 0.6), -np.inf)
    out_xyxy = xyxy.copy()
    out_cls = cls.copy()
    out_conf = dets.confidence.copy()
    drop = np.zeros(n, dtype=bool)
    order = np.argsort(-dets.confidence[peds], kind="stable")
    for pi in order:
        cand = np.argsort(-score[pi], kind="stable")
        for hi in cand:
            if not np.isfinite(score[pi, hi]):
                break
            vi = hosts[hi]
            if riders_n[vi] >= config.max_riders:
                continue
            ri = peds[pi]
            if riders_n[vi] == 0 or xyxy[ri, 1] < riders_box[vi, 1]:
                riders_box[vi] = xyxy[ri]  # the topmost rider's box: the helmet rule looks at the driver
            riders_n[vi] += 1
            out_xyxy[vi, :2] = np.minimum(out_xyxy[vi, :2], xyxy[ri, :2])
            out_xyxy[vi, 2:] = np.maximum(out_xyxy[vi, 2:], xyxy[ri, 2:])
            # Two pieces of evidence for one motorbike (noisy-OR): a faint rider on a faint bike
            # is surer than either alone.
            out_conf[vi] = 1.0 - (1.0 - out_conf[vi]) * (1.0 - dets.confidence[ri])
            if out_cls[vi] == CAR:
                out_cls[vi] = MOTORBIKE
            drop[ri] = True
            break
    # A "car" much narrower than tall is a scooter seen from front or back, rider or not.
    alone = (out_cls == CAR) & (w < config.narrow_alone_aspect * h) & (riders_n == 0)
    out_cls[alone] = MOTORBIKE
    keep = ~drop
    data = {k: val[keep] for k, val in dets.data.items()}
    data["rider_xyxy"] = riders_box[keep]
    data["riders"] = riders_n[keep]
    return Detections(xyxy=out_xyxy[keep], confidence=out_conf[keep], class_id=out_cls[keep],
                      tracker_id=dets.tracker_id[keep], data=data)


def _with_rider_data(dets: Detections, box: np.ndarray, count: np.ndarray) -> Detections:
    data = dict(dets.data) | {"rider_xyxy": box, "riders": count}
    return Detections(dets.xyxy, dets.confidence, dets.class_id, dets.tracker_id, data)


class RoadUserDetector(Detector):
    """Wraps a detector: road-user fusion, then only the configured classes are kept.

    Example::

        det = RoadUserDetector(TiledDetector(YoloxDetector(cfg), cfg.tiling), cfg.fusion, ["motorbike", "car"])
    """

    def __init__(self, inner: Detector, fusion: FusionConfig, classes: ClassNames | Sequence[str],
                 confidence: float = 0.0) -> None:
        """``inner`` may give riders and two-wheelers below ``confidence`` (decoded down to
        ``fusion.host_confidence``): what is still below it after fusion is dropped here."""
        self.inner = inner
        self.confidence = confidence
        self.kind = inner.kind
        self.fusion = fusion
        self._keep = np.asarray([CLASS_IDS[c] for c in classes], dtype=np.int64)

    @property
    def info(self) -> dict[str, Any]:
        return self.inner.info

    def _finish(self, dets: Detections) -> Detections:
        fused = fuse_road_users(dets, self.fusion)
        fused = fused[np.isin(fused.class_id, self._keep) & (fused.confidence >= self.confidence)]
        if len(fused) < 2 or not self.fusion.enabled:
            return fused
        # Merging grows boxes: a merged motorbike may now cover a bike boxed on its own.
        xywh = np.concatenate([fused.xyxy[:, :2], fused.xyxy[:, 2:] - fused.xyxy[:, :2]], axis=1)
        groups = [family_of(c) for c in fused.class_id.tolist()]
        ids = {g: i for i, g in enumerate(sorted(set(groups)))}
        keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), fused.confidence.tolist(), [ids[g] for g in groups],
                                       0.0, self.fusion.nms_iou)
        return fused[np.sort(np.asarray(keep, dtype=np.int64).reshape(-1))]

    def detect(self, frame: np.ndarray) -> Detections:
        return self._finish(self.inner.detect(frame))

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self._finish(d) for d in self.inner.detect_batch(frames)]

    def close(self) -> None:
        self.inner.close()
