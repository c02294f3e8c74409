"""YOLOX (Megvii; the stock COCO export or one fine-tuned by ``ioc models train``) through ONNX Runtime.

The model's class names come from the model (metadata or side file, see
`analytics.detectors.classmap`) and are mapped onto the product's road-user vocabulary
(`analytics.classes`); outputs with no product meaning are never decoded.

Pre-processing follows the reference YOLOX demo: letterbox to the model input,
image at the top-left, pad value 114, BGR 0-255 float, no normalisation. The raw
output (per anchor: cx, cy, w, h as grid offsets / log sizes, objectness, 80 class
scores) is decoded with strides 8, 16 and 32, filtered to the configured classes and
reduced by NMS (`cv2.dnn.NMSBoxes`, across classes by default, else class-wise
`cv2.dnn.NMSBoxesBatched`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from analytics.classes import CLASS_IDS, canonical, family_of
from analytics.detections import Detections
from analytics.detectors.base import Detector, check_frame
from analytics.detectors.classmap import read_class_map
from analytics.detectors.config import YoloxConfig
from analytics.exceptions import InferenceError, ModelError

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
PAD_VALUE = 114


def anchor_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor of an ``h`` x ``w`` YOLOX input: its grid cell (x, y) and its stride, in output order."""
    grids, strides = [], []
    for s in STRIDES:
        hs, ws = h // s, w // s
        xv, yv = np.meshgrid(np.arange(ws), np.arange(hs))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((hs * ws, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def anchor_boxes(rows: np.ndarray, grid: np.ndarray, stride: np.ndarray) -> np.ndarray:
    """Boxes (x, y, w, h) in input pixels of raw output rows (cx, cy as grid offsets, w, h as
    log sizes) with their anchors' grid cells and strides."""
    cxy = (rows[:, :2] + grid) * stride
    wh = np.exp(np.minimum(rows[:, 2:4], 10.0)) * stride  # clamp: exp of garbage must not overflow
    return np.concatenate([cxy - wh / 2, wh], axis=1)


class YoloxDetector(Detector):
    """YOLOX ONNX model; one session, reused for every frame and camera.

    If the model's batch dimension is dynamic, `detect_batch` runs all frames in one
    ONNX Runtime call; the published YOLOX-Nano export has batch fixed at 1, so its
    frames run one after the other (``self.batch_capable`` says which). Stateless per
    call, so one instance may serve several threads (ONNX Runtime's ``run`` is thread-safe).

    Example::

        det = YoloxDetector(YoloxConfig(model=Path("yolox_nano.onnx"), confidence=0.3))
        boxes = det.detect(cv2.imread("street.jpg"))
        det.providers        # ['CPUExecutionProvider'] (CUDA first when available)
    """

    kind = "yolox"

    def __init__(self, config: YoloxConfig, keep_weak: bool = False) -> None:
        import onnxruntime as ort

        self.config = config
        # Riders and two-wheelers are decoded down to fusion.host_confidence: a faint rider on
        # a faint bike is one fairly sure motorbike. Only for a caller that fuses them and then
        # drops what is still below the confidence (`RoadUserDetector`).
        self.keep_weak = keep_weak and config.fusion.enabled
        path = config.model
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        available = ort.get_available_providers()
        providers = [p for p in config.providers if p in available]
        if not providers:
            raise ModelError(f"none of the providers {config.providers} is available here; available: {available}")
        options = ort.SessionOptions()
        # The edge shares few cores among decode, several cameras and the hub: one
        # thread per session by default, so a detector never starves the others.
        options.intra_op_num_threads = config.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
        self.providers: list[str] = self.session.get_providers()
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"{path.name}: expected input N x 3 x H x W, got {shape}")
        self.batch_capable = not isinstance(shape[0], int)
        fixed_hw = tuple(shape[2:]) if all(isinstance(v, int) for v in shape[2:]) else None
        if config.input_size is not None and fixed_hw is not None and tuple(config.input_size) != fixed_hw:
            raise ModelError(f"{path.name} takes {fixed_hw[0]}x{fixed_hw[1]} input; config asks for {config.input_size}")
        size = fixed_hw or config.input_size or (416, 416)
        self.input_hw: tuple[int, int] = (int(size[0]), int(size[1]))
        self._grid, self._stride = self._make_grid(*self.input_hw)
        outs = self.session.get_outputs()
        out_shape = outs[0].shape
        metadata = dict(self.session.get_modelmeta().custom_metadata_map or {})
        self.model_classes, self.class_source = read_class_map(path, metadata, config.class_map)
        width = 5 + len(self.model_classes)
        if len(out_shape) != 3 or (isinstance(out_shape[2], int) and out_shape[2] != width):
            raise ModelError(f"{path.name}: expected output N x anchors x {width} (YOLOX with the "
                             f"{len(self.model_classes)} classes of {self.class_source}), got {out_shape}")
        if isinstance(out_shape[1], int) and out_shape[1] != len(self._grid):
            raise ModelError(f"{path.name}: {out_shape[1]} anchors, but strides {STRIDES} on {self.input_hw} give {len(self._grid)}")
        # Decode only the outputs that mean a wanted product class; fusion also needs the
        # pedestrians, two-wheelers and cars that may turn out to be riders and bikes.
        wanted = set(config.classes)
        if config.fusion.enabled:
            wanted |= {"pedestrian", "bicycle", "motorbike", "car"}
        product = [canonical(name) for name in self.model_classes]
        columns = [i for i, c in enumerate(product) if c is not None and c in wanted]
        if not columns:
            raise ModelError(f"{path.name}: none of its classes {self.model_classes} is one of {sorted(wanted)}")
        self._columns = np.asarray(columns, dtype=np.int64)
        self._keep = np.asarray([CLASS_IDS[product[i]] for i in columns], dtype=np.int64)  # type: ignore[index]
        self.class_names: list[str] = sorted({product[i] for i in columns})  # type: ignore[misc]
        hosts = {"motorbike", "bicycle", "pedestrian"}
        low = min(config.confidence, config.fusion.host_confidence) if self.keep_weak else config.confidence
        self._thresholds = np.asarray([low if product[i] in hosts else config.confidence for i in columns], np.float32)
        families = sorted({family_of(k) for k in self._keep.tolist()})
        self._family = np.asarray([families.index(family_of(k)) for k in self._keep.tolist()], dtype=np.int64)
        self._buffers = threading.local()
        log.info("YOLOX %s on %s, input %s, batch %s, classes %s (from %s)", path.name, self.providers, self.input_hw,
                 "dynamic" if self.batch_capable else "1", self.class_names, self.class_source)

    @staticmethod
    def _make_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        return anchor_grid(h, w)

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.config.model.name}

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The 1x3xHxW float32 input tensor for ``frame`` and the letterbox scale.

        The tensor is this thread's reusable buffer: valid until the thread's next call.
        """
        check_frame(frame)
        h, w = frame.shape[:2]
        ih, iw = self.input_hw
        r = min(ih / h, iw / w)
        nh, nw = max(1, int(round(h * r))), max(1, int(round(w * r)))
        # Per-thread buffers: no page faults from fresh 2 MB allocations on every frame,
        # and several camera threads may share this detector safely. The padding is
        # written once per frame size; each frame converts only its own image area.
        bufs = self._buffers
        if getattr(bufs, "size", None) != (nh, nw):
            bufs.tensor = np.full((1, 3, ih, iw), PAD_VALUE, dtype=np.float32)
            bufs.small = np.empty((nh, nw, 3), dtype=np.uint8)
            bufs.size = (nh, nw)
        tensor, small = bufs.tensor, bufs.small
        cv2.resize(frame, (nw, nh), dst=small, interpolation=cv2.INTER_LINEAR)
        np.copyto(tensor[0, :, :nh, :nw], small.transpose(2, 0, 1), casting="unsafe")
        return tensor, r

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Raw model output for an input tensor (N x anchors x (5 + classes))."""
        try:
            return self.session.run(None, {self.input_name: tensor})[0]
        except Exception as exc:
            raise InferenceError(f"ONNX Runtime failed on input {tensor.shape}: {exc}") from exc

    def postprocess(self, raw: np.ndarray, scale: float, frame_hw: tuple[int, int]) -> Detections:
        """Decode one image's raw output (anchors x (5 + classes)) into frame-pixel `Detections`."""
        # score = objectness x class score <= objectness: anchors below the lowest threshold
        # on objectness alone are dropped before touching their class scores.
        floor = float(self._thresholds.min())  # the lowest per-class threshold
        cand = np.flatnonzero(raw[:, 4] >= floor)
        if len(cand) == 0:
            return self._empty()
        r_all = raw[cand]
        scores_all = r_all[:, 5:][:, self._columns] * r_all[:, 4:5]
        best = scores_all.argmax(1)
        score = scores_all[np.arange(len(best)), best]
        keep_rows = np.flatnonzero(score >= self._thresholds[best])
        if len(keep_rows) == 0:
            return self._empty()
        sel = cand[keep_rows]
        best = best[keep_rows]
        score = score[keep_rows]
        boxes_xywh = anchor_boxes(raw[sel], self._grid[sel], self._stride[sel]) / scale
        cls = self._keep[best]
        if self.config.agnostic_nms:
            # Across the classes of one family (a pickup as car and truck is one box), never
            # across families: a rider's box must not suppress the bike under it.
            groups = self._family[best]
        else:
            groups = cls
        keep = cv2.dnn.NMSBoxesBatched(boxes_xywh.tolist(), score.tolist(), groups.tolist(), floor, self.config.nms_iou)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        h, w = frame_hw
        xyxy = np.concatenate([boxes_xywh[keep, :2], boxes_xywh[keep, :2] + boxes_xywh[keep, 2:]], axis=1)
        np.clip(xyxy, 0, [w, h, w, h], out=xyxy)
        return Detections(xyxy=xyxy, confidence=score[keep], class_id=cls[keep])

    def _empty(self) -> Detections:
        return Detections.empty()

    def detect(self, frame: np.ndarray) -> Detections:
        tensor, scale = self.preprocess(frame)
        return self.postprocess(self.run(tensor)[0], scale, frame.shape[:2])

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not self.batch_capable or len(frames) <= 1:
            return [self.detect(f) for f in frames]
        prepared = [(t.copy(), s) for t, s in (self.preprocess(f) for f in frames)]  # the buffer is reused per call
        raw = self.run(np.concatenate([t for t, _ in prepared]))
        return [self.postprocess(raw[i], s, f.shape[:2]) for i, ((_, s), f) in enumerate(zip(prepared, frames, strict=True))]
