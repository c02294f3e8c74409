"""Edge pipeline benchmark: throughput against bare decode + bare inference, and how many
720p cameras at 5 detection fps this machine sustains in real time.

Run: ``python -m bench.edge [--max-cameras 8] [--seconds 12]`` (about 2 minutes on 2 cores).

1. Throughput on highway_720p.mp4 (426 frames, 1280x720, 30 fps), 5 detection fps =
   every 6th frame, both sides in one thread and interleaved frame by frame (the machine
   is shared, and interleaving makes other processes' load hit both sides alike):

   - baseline: PyAV decode of every frame (frame threads on), BGR conversion of every
     6th, a hand-written letterbox and a bare ONNX Runtime ``session.run`` (same model,
     same thread settings) — the least code that gets boxes' raw scores;
   - ours: `video.Capture` → `edge.batching.DetectorService` (the shared session the
     worker uses) running `YoloxDetector` (letterbox, box decoding, NMS)
     → `SceneAnalyzer` (ByteTrack, a counting line, wrong-way lanes) → events into the
     SQLite outbox. Goal: within 15 % of the baseline's time;
   - ours + extras: the same plus what the worker adds beyond detection: the ring
     buffer (a 720p JPEG per analysed frame, for clips) and the 2 fps annotated preview.
     In the worker the ring is fed by the capture thread, in parallel with analysis;
     here everything is counted in one thread, so this row is the CPU cost.
2. Capacity: N cameras in one `EdgeWorker` (real threads, real-time paced looping
   sources, one shared YOLOX session, previews on, hub unreachable so delivery just
   retries) for ``--seconds`` after a warm-up. A camera keeps up when it analyses at least
   95 % of 5 fps and its source is read at at least 95 % of 30 fps. N grows until one does
   not keep up. The baseline's per-camera-second cost (30 decodes + 5 inferences) gives
   the bound a perfect pipeline could reach on the same cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import av
import cv2
import numpy as np
import onnxruntime as ort

from bench._models import stock_yolox
from analytics.detectors import YoloxConfig, build_detector
from analytics.scene import SceneAnalyzer, SceneConfig
from bench._report import markdown_table, write_section
from edge.annotate import preview_image
from edge.batching import DetectorService, SharedDetector
from edge.config import SiteConfig
from edge.outbox import Outbox
from edge.worker import EdgeWorker
from video import Capture, CaptureOptions, FrameRing, encode_jpeg

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
VIDEO = DATA / "highway_720p.mp4"
MODEL = DATA / "yolox_nano.onnx"  # replaced in main() by the installed copy (with its class map)
STEP = 6  # 30 fps source, 5 detection fps

SCENE = {  # the carriageways as tests/analytics/test_highway.py drew them
    "lines": [{"name": "gate", "start": [0, 300], "end": [1280, 300]}],
    "lanes": [
        {"name": "left", "polygon": [[0, 300], [460, 150], [635, 150], [620, 720], [0, 720]], "direction": [0, 1]},
        {"name": "right", "polygon": [[665, 150], [830, 150], [1280, 250], [1280, 720], [690, 720]],
         "direction": [0, -1]},
    ],
    "rules": [
        {"type": "line_count", "line": "gate", "interval_s": 5},
        {"type": "wrong_way", "lanes": ["left", "right"]},
    ],
}


class Bare:
    """The baseline: bare PyAV decoding and a hand-written letterbox + ``session.run``."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.name = session.get_inputs()[0].name
        self.container = av.open(str(VIDEO))
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        self.frames = self.container.decode(stream)

    def infer(self, image: np.ndarray) -> None:
        r = min(416 / image.shape[0], 416 / image.shape[1])
        resized = cv2.resize(image, (int(image.shape[1] * r), int(image.shape[0] * r)))
        padded = np.full((416, 416, 3), 114, np.uint8)
        padded[: resized.shape[0], : resized.shape[1]] = resized
        tensor = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        self.session.run(None, {self.name: tensor})

    def close(self) -> None:
        self.container.close()


class Ours:
    """Our stages, as the worker chains them."""

    def __init__(self, service: DetectorService, outbox_dir: Path) -> None:
        self.detector = SharedDetector(service)
        self.scene = SceneAnalyzer(SceneConfig.model_validate(SCENE))
        self.ring = FrameRing(seconds=10, fps=5)
        self.outbox = Outbox(outbox_dir / "outbox.sqlite", "bench-edge")
        self.capture = Capture(str(VIDEO), CaptureOptions(realtime=False))
        self.frames = self.capture.frames()
        self.base_ts = time.time()
        self.events = 0

    def close(self) -> None:
        self.capture.close()
        self.outbox.close()


def throughput_pass(session: ort.InferenceSession, service: DetectorService, outbox_dir: Path) -> dict[str, float]:
    """One pass over the video, both sides interleaved frame by frame (which goes first
    alternates), so that load from other processes hits both alike. Returns seconds per stage."""
    bare, ours = Bare(session), Ours(service, outbox_dir)
    t: dict[str, float] = dict.fromkeys(("b_decode", "b_infer", "decode", "detect", "scene", "outbox",
                                         "ring", "preview"), 0.0)
    clock = time.perf_counter
    analysed = 0
    try:
        for index in range(426):
            if index % 2:  # which decoder goes first alternates too
                a = clock()
                frame = next(ours.frames)
                b = clock()
                raw = next(bare.frames)
                c = clock()
                t["decode"] += b - a
                t["b_decode"] += c - b
            else:
                a = clock()
                raw = next(bare.frames)
                b = clock()
                frame = next(ours.frames)
                c = clock()
                t["b_decode"] += b - a
                t["decode"] += c - b
            if index % STEP:
                continue
            frame.mono = frame.index / 30.0  # media time, as the paced source would stamp it

            def run_bare() -> None:
                a = clock()
                image = raw.to_ndarray(format="bgr24")
                b = clock()
                bare.infer(image)
                t["b_decode"] += b - a
                t["b_infer"] += clock() - b

            def run_ours() -> None:
                a = clock()
                image = frame.image
                b = clock()
                dets = ours.detector.detect(image)
                c = clock()
                result = ours.scene.process(image, ours.base_ts + frame.mono, dets)
                d = clock()
                for hit in result.hits:
                    ours.outbox.add_event(camera="cam-bench", unit="u1", type=hit.type, severity=hit.severity,
                                          ts=datetime.fromtimestamp(hit.ts, timezone.utc),
                                          payload=hit.event_payload())
                    ours.events += 1
                e = clock()
                ours.ring.add(frame)
                f = clock()
                if analysed % 5 in (0, 2):  # previews at 2 fps of the 5 analysed
                    encode_jpeg(preview_image(image, result.tracks, ours.scene.config, 640), 70)
                g = clock()
                t["decode"] += b - a
                t["detect"] += c - b
                t["scene"] += d - c
                t["outbox"] += e - d
                t["ring"] += f - e
                t["preview"] += g - f

            for step in ((run_bare, run_ours) if analysed % 2 == 0 else (run_ours, run_bare)):
                step()
            analysed += 1
    finally:
        bare.close()
        ours.close()
    t["analysed"] = analysed
    t["events"] = ours.events
    return t


def capacity_run(cameras: int, seconds: float, data_dir: Path) -> dict[str, float]:
    """Run ``cameras`` real-time highway cameras in one worker; per-camera figures after warm-up."""
    site = SiteConfig.model_validate({
        "edge": {"id": "bench-edge", "data_dir": str(data_dir / f"n{cameras}")},
        "hub": {"url": "http://127.0.0.1:9", "token": "x", "heartbeat_s": 60},
        "detector": {"type": "yolox", "model": str(MODEL)},
        "preview": {"enabled": True, "port": 0, "fps": 2},
        "cameras": [{"id": f"cam-{i}", "unit": "u1", "url": str(VIDEO), "loop": True, "detect_fps": 5,
                     "scene": SCENE} for i in range(cameras)],
    })
    worker = EdgeWorker(site)
    worker.start()
    try:
        time.sleep(3.0)  # warm-up: sessions, first reconnects, tracker start
        start = {cid: (p.stats.processed, p.stream.frames, p.stats.missed) for cid, p in worker.pipelines.items()}
        time.sleep(seconds)
        rates, source_rates, latencies, missed = [], [], [], 0
        for cid, pipe in worker.pipelines.items():
            processed0, frames0, missed0 = start[cid]
            rates.append((pipe.stats.processed - processed0) / seconds)
            source_rates.append((pipe.stream.frames - frames0) / seconds)
            latencies.append(pipe.latency_ms)
            missed += pipe.stats.missed - missed0
    finally:
        worker.stop()
    return {"cameras": cameras, "min_fps": min(rates), "mean_fps": sum(rates) / len(rates),
            "min_source_fps": min(source_rates), "latency_ms": max(latencies), "missed": missed}


def main() -> None:
    global MODEL
    MODEL = stock_yolox()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-cameras", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    if not VIDEO.exists() or not MODEL.exists():
        raise SystemExit(f"needs {VIDEO} and {MODEL} (../shared/data)")

    load_before = os.getloadavg()[0]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(MODEL), sess_options=options, providers=["CPUExecutionProvider"])
    service = DetectorService(build_detector(YoloxConfig(model=MODEL)), max_batch=4, workers=1).start()
    # A warm-up pass, then five measured ones; per stage the best pass counts (the least disturbed).
    with tempfile.TemporaryDirectory() as tmp:
        passes = [throughput_pass(session, service, Path(tmp) / f"p{i}") for i in range(6)][1:]
    service.stop()
    best = {k: min(p[k] for p in passes) for k in passes[0]}
    our_n = int(best["analysed"])
    base_t = best["b_decode"] + best["b_infer"]
    our_t = best["decode"] + best["detect"] + best["scene"] + best["outbox"]
    full_t = our_t + best["ring"] + best["preview"]
    overhead = our_t / base_t - 1
    full_overhead = full_t / base_t - 1
    our_events = int(passes[-1]["events"])
    media_s = 426 / 30
    print(f"baseline: {base_t:.2f} s (decode {best['b_decode']:.2f}, infer {best['b_infer']:.2f}) for {our_n} "
          f"analysed frames ({media_s / base_t:.1f}x real time)")
    print(f"ours:     {our_t:.2f} s (decode {best['decode']:.2f}, detect {best['detect']:.2f}, scene "
          f"{best['scene']:.2f}, outbox {best['outbox']:.2f}), {our_events} events; overhead {overhead * 100:+.1f} %")
    print(f"ours + ring {best['ring']:.2f} + preview {best['preview']:.2f}: {full_t:.2f} s; "
          f"overhead {full_overhead * 100:+.1f} %")

    # Per camera-second, the baseline spends base_t / media_s seconds of one core.
    bound = 2 / (base_t / media_s)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        n = 1
        while n <= args.max_cameras:
            r = capacity_run(n, args.seconds, Path(tmp))
            ok = r["min_fps"] >= 0.95 * 5 and r["min_source_fps"] >= 0.95 * 30
            r["ok"] = ok
            results.append(r)
            print(f"{n} camera(s): analysed min {r['min_fps']:.2f} / mean {r['mean_fps']:.2f} fps, "
                  f"source min {r['min_source_fps']:.1f} fps, latency max {r['latency_ms']:.0f} ms, "
                  f"missed {r['missed']:.0f} -> {'keeps up' if ok else 'FALLS BEHIND'}")
            if not ok:
                break
            n = n + 1 if n < 4 else n + 2
    sustained = max((int(r["cameras"]) for r in results if r["ok"]), default=0)
    load_after = os.getloadavg()[0]
    print(f"sustained: {sustained} camera(s) at 5 detection fps (bound from the baseline's cost: {bound:.1f})")

    rows = [
        ["bare decode + bare ONNX (baseline)", f"{base_t:.2f}", f"{media_s / base_t:.1f}x", "-"],
        ["ours: decode, detect, track, rules, outbox", f"{our_t:.2f}", f"{media_s / our_t:.1f}x",
         f"**{overhead * 100:+.1f} %**"],
        ["ours + ring buffer + preview (CPU cost, one thread)", f"{full_t:.2f}", f"{media_s / full_t:.1f}x",
         f"{full_overhead * 100:+.1f} %"],
    ]
    stage_rows = [["decode (5 skipped + 1 converted frame)", f"{best['b_decode'] * 1000 / our_n:.1f}",
                   f"{best['decode'] * 1000 / our_n:.1f}"],
                  ["detect (bare: letterbox + session.run)", f"{best['b_infer'] * 1000 / our_n:.1f}",
                   f"{best['detect'] * 1000 / our_n:.1f}"],
                  ["track + rules", "-", f"{best['scene'] * 1000 / our_n:.1f}"],
                  ["events into the outbox", "-", f"{best['outbox'] * 1000 / our_n:.1f}"],
                  ["ring buffer JPEG (extra)", "-", f"{best['ring'] * 1000 / our_n:.1f}"],
                  ["preview at 2 fps (extra)", "-", f"{best['preview'] * 1000 / our_n:.1f}"]]
    cap_rows = [[int(r["cameras"]), f"{r['min_fps']:.2f}", f"{r['min_source_fps']:.1f}", f"{r['latency_ms']:.0f}",
                 int(r["missed"]), "yes" if r["ok"] else "**no**"] for r in results]
    body = f"""
**Throughput** on `highway_720p.mp4` ({our_n} frames analysed at 5 fps out of 426; both sides
run in one thread, interleaved frame by frame so that load from other processes hits them
alike; per stage the best of 5 passes; goal: overhead under 15 %):

{markdown_table(["", "seconds", "speed vs real time", "overhead"], rows)}

Per analysed frame (ms). Our detect goes through the shared `DetectorService` and includes
YOLOX's box decoding and NMS, which the bare call does not do:

{markdown_table(["stage", "baseline ms", "ours ms"], stage_rows)}

**Capacity**: 720p cameras at 5 detection fps in one worker, real-time paced, one shared YOLOX
session (1 intra-op thread, 2 worker permits), previews on; {args.seconds:.0f} s per step after
a 3 s warm-up. A camera keeps up at >= 4.75 analysed fps and >= 28.5 source fps.

{markdown_table(["cameras", "min analysed fps", "min source fps", "max latency ms", "missed slots", "keeps up"], cap_rows)}

Sustained: **{sustained} camera(s)**. The baseline's cost per camera-second ({base_t / media_s * 1000:.0f} ms
of one core) bounds a perfect pipeline at {bound:.1f} cameras on 2 cores. The machine is shared
with other work while this runs (1-minute load average {load_before:.1f} at the start and
{load_after:.1f} at the end, on {os.cpu_count()} cores), so the capacity figure is a floor: the
worker got only part of the two cores.
"""
    write_section("edge", "Edge pipeline: throughput and cameras per machine", body)


if __name__ == "__main__":
    main()
