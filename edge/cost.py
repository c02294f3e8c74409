"""What a camera's detector config costs, said before it runs (`ioc edge check`).

The cost of a YOLOX config is its inference passes per analysed frame (the full frame plus
the tiles of its layout, `analytics.detectors.tiling.tiling_cost`) times one bare model call,
measured here on this machine at one thread, because the boxes an edge runs on vary in
speed threefold from one day to the next.

Example::

    est = estimate(site.detector_for(camera), camera, 1280, 720)
    est.passes, est.ms_per_frame, est.core_share    # 1, 9.8, 0.05 (at 5 detect-fps)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.detectors import YoloxConfig
from analytics.detectors.tiling import tiling_cost
from analytics.scene import scene_regions
from edge.config import CameraConfig

_BARE_MS: dict[tuple[Path, int], tuple[float, tuple[int, int]]] = {}


@dataclass(frozen=True)
class CostEstimate:
    """Inference passes per analysed frame, the estimated milliseconds, and what they mean."""

    passes: int
    tiles: int
    bare_ms: float
    ms_per_frame: float
    core_share: float  # of one core at the camera's detect_fps
    min_object_px: float  # smallest vehicle height (frame px) that reaches the model at target size

    def describe(self) -> str:
        """One line for the operator."""
        layout = "full frame" if self.tiles == 0 else f"{self.passes - self.tiles} full frame + {self.tiles} tiles"
        return (f"{self.passes} inference pass(es) per frame ({layout}), ~{self.ms_per_frame:.0f} ms per analysed "
                f"frame at 1 thread (one bare call measured now: {self.bare_ms:.1f} ms), "
                f"{100 * self.core_share:.0f} % of a core at the camera's detect-fps; "
                f"vehicles from ~{self.min_object_px:.0f} px tall are seen well")


def bare_call_ms(model: Path, repeats: int = 5) -> tuple[float, tuple[int, int]]:
    """Median ms of one bare ONNX Runtime call of ``model`` at one thread, and its input (h, w)."""
    key = (model.resolve(), repeats)
    if key not in _BARE_MS:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        hw = tuple(v if isinstance(v, int) else 416 for v in inp.shape[2:])
        tensor = np.full((1, 3, hw[0], hw[1]), 114.0, dtype=np.float32)
        session.run(None, {inp.name: tensor})  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            session.run(None, {inp.name: tensor})
            times.append((time.perf_counter() - t0) * 1000)
        _BARE_MS[key] = (float(np.median(times)), (int(hw[0]), int(hw[1])))
    return _BARE_MS[key]


def estimate(config: YoloxConfig, camera: CameraConfig, width: int, height: int) -> CostEstimate:
    """The cost of ``config`` on ``camera`` for frames of ``width`` x ``height``."""
    bare, hw = bare_call_ms(config.model)
    side = min(config.input_size or hw)
    cost = tiling_cost(config.tiling, width, height, side, scene_regions(camera.scene))
    ms = cost["passes"] * bare
    return CostEstimate(passes=cost["passes"], tiles=len(cost["tiles"]), bare_ms=bare, ms_per_frame=ms,
                        core_share=ms * camera.detect_fps / 1000.0, min_object_px=cost["min_object_px"])
