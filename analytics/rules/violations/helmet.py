"""No helmet: a pluggable ONNX classifier applied to the heads of motorbike riders.

No model ships with the project, so the rule does nothing until ``model`` names an ONNX
file. The slot takes any image classifier with one input (1, 3, H, W) float32 and one
output (1, K) of scores or logits; ``no_helmet_index`` says which of the K classes means
"no helmet". docs/violations.md says how to plug one in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from analytics.classes import ClassNames
from analytics.rules.base import Rule, RuleHit, SceneState
from analytics.rules.violations.common import ViolationConfigBase
from analytics.rules.violations.exceptions import ModelError


class NoHelmetConfig(ViolationConfigBase):
    """The no-helmet classifier slot. Off (never fires) while ``model`` is None.

    Example::

        NoHelmetConfig(model=Path("models/helmet_cls.onnx"), input_size=(64, 64), no_helmet_index=1,
                       threshold=0.7, votes=3)
    """

    type: Literal["no_helmet"] = "no_helmet"
    classes: ClassNames = Field(["motorbike"], min_length=1, description="vehicle classes whose riders are checked")
    model: Path | None = Field(None, description="ONNX classifier file; None turns the rule off")
    input_size: tuple[int, int] = Field((64, 64), description="(height, width) the model takes")
    channel_order: Literal["rgb", "bgr"] = Field("rgb", description="channel order the model was trained on")
    mean: tuple[float, float, float] = Field((0.5, 0.5, 0.5), description="per-channel mean (after scaling to 0-1)")
    std: tuple[float, float, float] = Field((0.5, 0.5, 0.5), description="per-channel std (after scaling to 0-1)")
    no_helmet_index: int = Field(1, ge=0, le=999, description="output class meaning 'no helmet'")
    apply_softmax: bool = Field(True, description="the model outputs logits; turn off if it outputs probabilities")
    threshold: float = Field(0.7, gt=0.0, le=1.0, description="probability of 'no helmet' that counts as a vote")
    votes: int = Field(3, ge=1, le=50, description="positive checks of one rider needed to report")
    check_every_s: float = Field(0.4, ge=0.0, le=10.0, description="seconds between checks of one rider")
    head_fraction: float = Field(0.3, gt=0.05, le=1.0, description="top share of the rider box that holds the head")
    min_head_px: int = Field(12, ge=4, le=512, description="smaller heads are not checked (too few pixels)")


class NoHelmetRule(Rule):
    """``traffic.no_helmet`` once a rider's head is classified "no helmet" ``votes`` times.

    A ``motorbike`` box holds the two-wheeler with its riders (road-user fusion merges a
    COCO model's rider into it and keeps the rider's own box in ``data["rider_xyxy"]``; a
    fine-tuned model boxes both at once). The head is taken from the rider box when there is
    one, else from the upper part of the motorbike box.

    Example::

        rule = NoHelmetRule(NoHelmetConfig(model=Path("helmet.onnx")))
        rule.classify(head_crop_bgr)    # probability of "no helmet"
    """

    key = "no_helmet"
    config_class = NoHelmetConfig
    event_type = "traffic.no_helmet"
    default_severity = "warning"

    def __init__(self, config: NoHelmetConfig) -> None:
        super().__init__(config)
        self.config: NoHelmetConfig = config
        self._session = None
        self._input = ""
        self._votes: dict[int, int] = {}
        self._last_check: dict[int, float] = {}
        self._alerted: set[int] = set()
        if config.model is not None:
            self._load(config.model)

    @property
    def active(self) -> bool:
        """True when a model is configured and loaded."""
        return self._session is not None

    def _load(self, path: Path) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"no-helmet model {path} does not exist")
        try:
            self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"no-helmet model {path} cannot be loaded: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"no-helmet model {path} must take one (1, 3, H, W) input, has {[i.shape for i in inputs]}")
        self._input = inputs[0].name

    def classify(self, crop: np.ndarray) -> float:
        """Probability that the BGR head crop shows no helmet."""
        cfg = self.config
        h, w = cfg.input_size
        image = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        if cfg.channel_order == "rgb":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        x = (image.astype(np.float32) / 255.0 - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
        out = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0]  # type: ignore[union-attr]
        scores = np.asarray(out, dtype=np.float64).reshape(-1)
        if cfg.no_helmet_index >= len(scores):
            raise ModelError(f"no-helmet model gives {len(scores)} scores; no_helmet_index is {cfg.no_helmet_index}")
        if cfg.apply_softmax:
            e = np.exp(scores - scores.max())
            scores = e / e.sum()
        return float(scores[cfg.no_helmet_index])

    def head_box(self, state: SceneState, bike: np.ndarray, rider: np.ndarray | None = None) -> tuple[int, int, int, int]:
        """Head region of the rider of motorbike box ``bike`` (the rider's own box when known)."""
        x1, y1, x2, y2 = (float(v) for v in bike)
        if rider is not None and np.all(np.isfinite(rider)):
            rx1, ry1, rx2, ry2 = (float(v) for v in rider)
        else:  # the box holds bike and rider: the rider is its upper ~60 %
            rx1, ry1, rx2, ry2 = x1, y1, x2, y1 + 0.6 * (y2 - y1)
        head_h = (ry2 - ry1) * self.config.head_fraction
        cx, half = (rx1 + rx2) / 2, max(head_h, (rx2 - rx1) * 0.5) / 2
        return int(cx - half), int(ry1), int(np.ceil(cx + half)), int(np.ceil(ry1 + head_h))

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        if self._session is None or state.frame is None:
            return []
        for tid in state.ended:
            self._votes.pop(tid, None)
            self._last_check.pop(tid, None)
            self._alerted.discard(tid)
        hits = []
        fh, fw = state.frame.shape[:2]
        for i, tid in enumerate(state.tracks.tracker_id.tolist()):
            h = state.history.get(tid)
            if h is None or h.class_name not in self.config.classes or tid in self._alerted:
                continue
            if state.ts - self._last_check.get(tid, -np.inf) < self.config.check_every_s:
                continue
            riders = state.tracks.data.get("rider_xyxy")
            x1, y1, x2, y2 = self.head_box(state, state.tracks.xyxy[i], riders[i] if riders is not None else None)
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(fw, x2), min(fh, y2)
            if min(x2 - x1, y2 - y1) < self.config.min_head_px:
                continue
            self._last_check[tid] = state.ts
            p = self.classify(state.frame[y1:y2, x1:x2])
            if p >= self.config.threshold:
                self._votes[tid] = self._votes.get(tid, 0) + 1
            if self._votes.get(tid, 0) >= self.config.votes:
                self._alerted.add(tid)
                hits.append(self.hit(state, tid, {"no_helmet_p": round(p, 3), "votes": self._votes[tid],
                                                  "head_box": [x1, y1, x2, y2]}))
        return hits
