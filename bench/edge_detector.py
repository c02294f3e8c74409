"""Detector benchmark: our `YoloxDetector` against a bare ONNX Runtime call, and tiling recall.

Run: ``python -m bench.edge_detector [--runs 100]`` (one to two minutes on 2 busy cores).

Figures, each against its baseline measured in the same run:

1. Latency. Baseline: ``session.run`` of a bare ONNX Runtime session (same model,
   same thread settings) on an already prepared 1x3x416x416 tensor. Ours:
   `YoloxDetector.detect(frame)` on the 1280x720 BGR frame the tensor came from,
   i.e. letterbox + inference + decode + NMS + `Detections`. Goal: overhead < 10 %.
   Measured at 1 and 2 intra-op threads (the edge default is 1: the machine's two
   cores are shared with decoding and the other cameras).
2. Batching. The YOLOX-Nano export has a fixed batch of 1, so `detect_batch` of
   four frames runs them one after the other; the figure shows that this costs four
   single calls and nothing more.
3. Small-vehicle recall with and without tiling on frame 300 of highway_720p.mp4,
   labelled by hand (`LABELS` below). The shared data hold no motorbikes (the
   highway is American, the street clip has one bicycle), so the figure that
   stands in for "motorbike recall" is the recall of vehicles at most 40 px wide:
   a motorbike in a 1280 px wide Vietnamese street view is 25-50 px wide, the
   size of these distant cars. A labelled vehicle is found when a detection of
   any vehicle class overlaps it with IoU >= 0.3 (0.3 rather than 0.5 because an
   8 px-high box drawn by eye cannot be more exact).
4. Scene analysis (tracker + geometry + rules) per frame, against detection on the
   same frames.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from bench._models import stock_yolox
from analytics.detectors.config import TilingConfig, YoloxConfig
from analytics.detectors.tiling import TiledDetector
from analytics.detectors.yolox import YoloxDetector
from bench._report import markdown_table, write_section

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MODEL = DATA / "yolox_nano.onnx"  # replaced in main() by the installed copy (with its class map)
VIDEO = DATA / "highway_720p.mp4"
FRAME_INDEX = 300

# Every vehicle visible in frame 300 of highway_720p.mp4, (x1, y1, x2, y2) in pixels.
# How they were labelled: the frame was saved as PNG, then shown three ways with a
# pixel grid drawn on it — the whole frame with a 40 px grid (the four near
# vehicles), the band x 380-900, y 90-250 enlarged 2.5x with a 20 px grid (the
# middle distance) and the band x 520-780, y 78-126 enlarged 5x with a 10 px grid
# (the queue of small cars under the overpass, both carriageways). Each box was
# read off the grid at the vehicle's visible extent (body and wheels, not the
# shadow); the cars in the overlap of the two enlargements were read in both and
# agreed within 1-2 px. Vehicles hidden by the lighting pole are not labelled.
LABELS: list[tuple[int, int, int, int]] = [
    # far, left carriageway (towards the camera), under the overpass
    (580, 90, 588, 94),
    (592, 91, 602, 96),
    (558, 100, 569, 108),
    (533, 108, 548, 120),
    (565, 111, 591, 133),  # white pickup towing a trailer
    # far, right carriageway (away from the camera)
    (672, 90, 680, 100),
    (679, 103, 690, 113),
    (700, 103, 711, 113),
    (693, 96, 702, 105),
    (698, 90, 704, 93),
    (704, 90, 713, 99),
    (722, 90, 732, 99),
    (727, 104, 740, 116),
    (740, 100, 750, 110),
    (734, 111, 752, 129),
    # middle distance
    (475, 147, 504, 167),
    (575, 148, 600, 167),
    (776, 170, 812, 200),
    (796, 149, 825, 171),
    (797, 130, 820, 148),
    (775, 121, 792, 132),
    # near
    (408, 276, 497, 360),
    (782, 268, 858, 332),
    (978, 200, 1068, 254),
    (1040, 365, 1280, 532),
]
SMALL_PX = 40
MATCH_IOU = 0.3


def read_frame(index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of {VIDEO}")
    return frame


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median milliseconds of ``fn`` over ``runs`` calls after 5 warm-up calls."""
    for _ in range(5):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def bare_session(threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(MODEL), sess_options=options, providers=["CPUExecutionProvider"])


def _interleaved(*fns: Callable[[], object], runs: int) -> list[float]:
    """Median ms of each function, called in rounds of one call each in random order, after warm-up."""
    for _ in range(5):
        for fn in fns:
            fn()
    rng = random.Random(7)
    took: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for k in rng.sample(range(len(fns)), len(fns)):
            t0 = time.perf_counter()
            fns[k]()
            took[k].append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in took]


def latency(frame: np.ndarray, runs: int) -> list[list[object]]:
    """Per thread count: bare run, letterbox + bare run, our detect, and the noise floor."""
    rows = []
    for threads in (1, 2):
        det = YoloxDetector(YoloxConfig(model=MODEL, intra_op_threads=threads, providers=["CPUExecutionProvider"]))
        tensor = det.preprocess(frame)[0].copy()  # the detector reuses its buffer on its next call
        bare, twin = bare_session(threads), bare_session(threads)
        name = bare.get_inputs()[0].name

        def lb_bare() -> object:
            det.preprocess(frame)  # the letterbox alone, then the bare call on the prepared tensor
            return bare.run(None, {name: tensor})

        # The machine is shared and its load comes and goes: all sides are called in
        # random order round after round so that load hits them alike, and a twin bare
        # session measured the same way gives the noise floor of the comparison.
        base, floor_b, with_lb, ours = _interleaved(
            lambda: bare.run(None, {name: tensor}), lambda: twin.run(None, {name: tensor}), lb_bare, lambda: det.detect(frame), runs=runs
        )
        pre = timed(lambda: det.preprocess(frame), runs)
        raw = det.run(tensor)[0]
        post = timed(lambda: det.postprocess(raw, 416 / 1280, frame.shape[:2]), runs)
        overhead = (ours / base - 1) * 100
        floor = abs(floor_b / base - 1) * 100
        rows.append(
            [threads, f"{base:.2f}", f"{ours:.2f}", f"{overhead:+.1f} %", f"±{floor:.1f} %", f"{with_lb:.2f}",
             f"{pre:.2f}", f"{post:.2f}"]
        )
        print(f"threads={threads}: bare {base:.2f} ms, ours {ours:.2f} ms, overhead {overhead:+.1f} % "
              f"(noise floor ±{floor:.1f} %); letterbox then bare {with_lb:.2f} ms; "
              f"letterbox alone {pre:.2f} ms, decode+NMS alone {post:.2f} ms")
    return rows


def batching(frame: np.ndarray, runs: int) -> tuple[bool, float, float]:
    """Median ms of ``detect_batch`` on 4 frames and of 4 ``detect`` calls, paired and alternated."""
    det = YoloxDetector(YoloxConfig(model=MODEL, intra_op_threads=1))
    frames = [frame, cv2.flip(frame, 1), frame[::-1].copy(), frame]
    batch_ms, singles_ms = [], []
    for i in range(max(6, runs // 4)):
        calls = [lambda: det.detect_batch(frames), lambda: [det.detect(f) for f in frames]]
        took = [0.0, 0.0]
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            calls[k]()
            took[k] = (time.perf_counter() - t0) * 1000
        batch_ms.append(took[0])
        singles_ms.append(took[1])
    batch, singles = statistics.median(batch_ms), statistics.median(singles_ms)
    print(f"batch capable: {det.batch_capable}; detect_batch(4 frames) {batch:.1f} ms vs 4 x detect {singles:.1f} ms")
    return det.batch_capable, batch, singles


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def recall(frame: np.ndarray, runs: int) -> list[list[object]]:
    labels = np.asarray(LABELS, dtype=np.float32)
    small = (labels[:, 2] - labels[:, 0]) <= SMALL_PX
    base = YoloxDetector(YoloxConfig(model=MODEL, intra_op_threads=1, confidence=0.25))
    setups = [
        ("full frame 416 px (baseline)", base),
        ("tiles 2x3 + full frame", TiledDetector(base, TilingConfig(enabled=True, rows=2, cols=3))),
        ("tiles 2x4 + full frame", TiledDetector(base, TilingConfig(enabled=True, rows=2, cols=4))),
        ("tiles 3x4 + full frame", TiledDetector(base, TilingConfig(enabled=True, rows=3, cols=4))),
    ]
    rows = []
    for name, det in setups:
        dets = det.detect(frame)
        vehicles = dets[np.isin(dets.class_id, [1, 2, 3, 5, 7])]
        m = iou_matrix(labels, vehicles.xyxy)
        found = m.max(1) >= MATCH_IOU if m.size else np.zeros(len(labels), bool)
        unmatched = int((m.max(0) < MATCH_IOU).sum()) if m.size else len(vehicles)
        ms = timed(lambda d=det: d.detect(frame), max(3, runs // 6))
        rows.append(
            [name, f"{found.mean():.2f} ({found.sum()}/{len(labels)})", f"{found[small].mean():.2f} ({found[small].sum()}/{small.sum()})",
             unmatched, f"{ms:.1f}"]
        )
        print(f"{name}: recall {found.mean():.2f}, small {found[small].mean():.2f}, unmatched {unmatched}, {ms:.1f} ms")
    return rows


def scene_cost(runs_frames: int = 142) -> tuple[float, float, float]:
    """Median ms of `SceneAnalyzer.process` on the highway video's detections at 10 fps, vs detection."""
    from analytics.scene import SceneAnalyzer, SceneConfig

    det = YoloxDetector(YoloxConfig(model=MODEL, intra_op_threads=1))
    cap = cv2.VideoCapture(str(VIDEO))
    frames, index = [], 0
    while len(frames) < runs_frames:
        ok, frame = cap.read()
        if not ok:
            break
        if index % 3 == 0:
            t0 = time.perf_counter()
            dets = det.detect(frame)
            frames.append((index / 30.0, dets, (time.perf_counter() - t0) * 1000))
        index += 1
    cap.release()
    left = [[0, 300], [460, 150], [635, 150], [620, 720], [0, 720]]
    right = [[665, 150], [830, 150], [1280, 250], [1280, 720], [690, 720]]
    config = SceneConfig.model_validate(
        {
            "zones": [{"name": "shoulder", "polygon": left}],
            "lines": [{"name": "gate", "start": [0, 300], "end": [1280, 300]}],
            "lanes": [{"name": "left", "polygon": left, "direction": [0, 1]}, {"name": "right", "polygon": right, "direction": [0, -1]}],
            "rules": [
                {"type": "line_count", "line": "gate"},
                {"type": "wrong_way", "lanes": ["left", "right"]},
                {"type": "illegal_stopping", "zone": "shoulder"},
                {"type": "loitering", "zone": "shoulder", "classes": ["pedestrian"]},
            ],
        }
    )
    scene = SceneAnalyzer(config)
    took = []
    for ts, dets, _ in frames:
        t0 = time.perf_counter()
        scene.process(None, ts, dets)
        took.append((time.perf_counter() - t0) * 1000)
    per_frame = statistics.mean(len(d) for _, d, _ in frames)
    detect_ms = statistics.median(ms for _, _, ms in frames)
    print(f"scene.process {statistics.median(took):.2f} ms/frame vs detect {detect_ms:.2f} ms ({per_frame:.1f} boxes/frame)")
    return statistics.median(took), detect_ms, per_frame


def main() -> None:
    global MODEL
    MODEL = stock_yolox()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="timed calls per latency figure")
    args = parser.parse_args()
    frame = read_frame(FRAME_INDEX)
    lat = latency(frame, args.runs)
    capable, batch_ms, singles_ms = batching(frame, args.runs)
    rec = recall(frame, args.runs)
    scene_ms, detect_ms, boxes = scene_cost()
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} cores")
    body = (
        f"Load average at the end of the run: {load[0]:.1f} (1 min) / {load[1]:.1f} (5 min) on {os.cpu_count()} cores "
        + "shared with other work (when it is well above the core count, milliseconds are inflated and noisy; "
        + "compare within a row).\n\n"
        "### Latency: `YoloxDetector.detect(frame)` vs bare `session.run(tensor)`\n\n"
        "YOLOX-Nano 416x416, CPU provider, 1280x720 frame; medians. Ours includes letterbox, decode, NMS.\n\n"
        + "All called in random order round after round, medians; overhead = ours / bare - 1. Noise floor: a twin "
        + "bare session measured the same way. \"letterbox, then bare\" runs our letterbox and then the bare call on "
        + "the prepared tensor: the inference then runs after a 2.7 MB frame has gone through the caches, as it does "
        + "inside ours; the gap between it and bare is that memory effect, not code. Letterbox and decode+NMS timed "
        + "alone (warm caches).\n\n"
        + markdown_table(
            ["intra-op threads", "bare ORT (ms)", "ours (ms)", "overhead", "noise floor", "letterbox, then bare (ms)",
             "letterbox alone (ms)", "decode+NMS alone (ms)"],
            lat,
        )
        + "\n\n### Batching\n\n"
        + f"Model batch dimension dynamic: **{capable}** (YOLOX-Nano export is fixed at 1), so `detect_batch` runs "
        + f"frames one after the other: `detect_batch` of 4 frames {batch_ms:.1f} ms vs 4 x `detect` {singles_ms:.1f} ms "
        + "(medians of alternated runs).\n\n"
        + "### Small-vehicle recall with and without tiling (frame 300 of highway_720p.mp4, 25 vehicles labelled by hand)\n\n"
        + f"Small = at most {SMALL_PX} px wide (motorbike size in a 1280 px street view; the data have no motorbikes). "
        + f"Match: IoU >= {MATCH_IOU} with any vehicle-class detection, confidence 0.25.\n\n"
        + markdown_table(["detector", "recall (all)", "recall (small)", "detections matching no label", "ms / frame (1 thread)"], rec)
        + "\n\n### Scene analysis per frame\n\n"
        + "`SceneAnalyzer.process` (ByteTrack + 1 line, 2 lanes, 1 zone, 4 rules) on highway_720p.mp4 at 10 fps "
        + f"({boxes:.1f} boxes per frame): **{scene_ms:.2f} ms** per frame, against {detect_ms:.2f} ms for "
        + f"`detect` on the same frames ({scene_ms / detect_ms * 100:.0f} % of it).\n"
    )
    write_section("edge_detector", "Edge detector: latency, batching, tiling recall", body)


if __name__ == "__main__":
    main()
