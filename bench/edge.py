"""Edge pipeline benchmark: throughput against bare decode + bare inference, and how many
720p cameras at 5 detection fps this machine sustains in real time.

Run: ``python -m bench.edge [--max-cameras 8] [--seconds 12]`` (about 2 minutes on 2 cores).

1. Throughput on highway_720p.mp4 (426 frames, 1280x720, 30 fps), 5 detection fps =
   every 6th frame, all in one thread so both sides do the same work on the same frames:

   - baseline: PyAV decode of every frame (frame threads on), BGR conversion of every
     6th, a hand-written letterbox and a bare ONNX Runtime ``session.run`` (same model,
     same thread settings) — the least code that gets boxes' raw scores;
   - ours: `video.Capture` → `edge.batching.DetectorService` (the shared session the
     worker uses, with its thread hop) running `YoloxDetector` (letterbox, decode, NMS)
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
MODEL = DATA / "yolox_nano.onnx"
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


def baseline(session: ort.InferenceSession) -> tuple[float, int, dict[str, float]]:
    """Bare decode of every frame + bare letterbox and session.run on every 6th."""
    name = session.get_inputs()[0].name
    parts = {"decode": 0.0, "infer": 0.0}
    analysed = 0
    started = time.perf_counter()
    with av.open(str(VIDEO)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t = time.perf_counter()
        for i, frame in enumerate(container.decode(stream)):
            if i % STEP:
                continue
            image = frame.to_ndarray(format="bgr24")
            t1 = time.perf_counter()
            parts["decode"] += t1 - t
            r = min(416 / image.shape[0], 416 / image.shape[1])
            resized = cv2.resize(image, (int(image.shape[1] * r), int(image.shape[0] * r)))
            padded = np.full((416, 416, 3), 114, np.uint8)
            padded[: resized.shape[0], : resized.shape[1]] = resized
            tensor = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
            session.run(None, {name: tensor})
            analysed += 1
            t = time.perf_counter()
            parts["infer"] += t - t1
    return time.perf_counter() - started, analysed, parts


def ours(service: DetectorService, outbox_dir: Path, extras: bool) -> tuple[float, int, int, dict[str, float]]:
    """Our stages on the same frames: returns (seconds, frames analysed, events, stage times)."""
    detector = SharedDetector(service)
    scene = SceneAnalyzer(SceneConfig.model_validate(SCENE))
    ring = FrameRing(seconds=10, fps=5)
    outbox = Outbox(outbox_dir / "outbox.sqlite", "bench-edge")
    parts = dict.fromkeys(("decode", "detect", "scene", "outbox") + (("ring+preview",) if extras else ()), 0.0)
    analysed = events = 0
    base_ts = time.time()
    started = time.perf_counter()
    with Capture(str(VIDEO), CaptureOptions(realtime=False)) as cap:
        t = time.perf_counter()
        try:
            for frame in cap.frames():
                if frame.index % STEP:
                    continue
                frame.mono = frame.index / 30.0  # media time, as the paced source would stamp it
                image = frame.image
                t1 = time.perf_counter()
                parts["decode"] += t1 - t
                dets = detector.detect(image)
                t2 = time.perf_counter()
                result = scene.process(image, base_ts + frame.mono, dets)
                t3 = time.perf_counter()
                if extras:
                    ring.add(frame)
                    if analysed % 5 in (0, 2):  # previews at 2 fps of the 5 analysed
                        encode_jpeg(preview_image(image, result.tracks, scene.config, 640), 70)
                t4 = time.perf_counter()
                for hit in result.hits:
                    outbox.add_event(camera="cam-bench", unit="u1", type=hit.type, severity=hit.severity,
                                     ts=datetime.fromtimestamp(hit.ts, timezone.utc), payload=hit.event_payload())
                    events += 1
                analysed += 1
                t = time.perf_counter()
                parts["detect"] += t2 - t1
                parts["scene"] += t3 - t2
                if extras:
                    parts["ring+preview"] += t4 - t3
                parts["outbox"] += t - t4
        except Exception as exc:  # SourceEnded at the end of the file
            if type(exc).__name__ != "SourceEnded":
                raise
    elapsed = time.perf_counter() - started
    outbox.close()
    return elapsed, analysed, events, parts


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
    # Warm both up, then alternate the two so that machine noise hits them alike.
    baseline(session)
    runs_base, runs_ours, runs_full = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            runs_base.append(baseline(session))
            runs_ours.append(ours(service, Path(tmp) / f"r{i}", extras=False))
            runs_full.append(ours(service, Path(tmp) / f"f{i}", extras=True))
    service.stop()
    base_t, base_n, base_parts = min(runs_base, key=lambda r: r[0])
    our_t, our_n, our_events, our_parts = min(runs_ours, key=lambda r: r[0])
    full_t, _, _, full_parts = min(runs_full, key=lambda r: r[0])
    overhead = our_t / base_t - 1
    full_overhead = full_t / base_t - 1
    media_s = 426 / 30
    print(f"baseline: {base_t:.2f} s for {base_n} analysed frames ({media_s / base_t:.1f}x real time)",
          {k: round(v, 3) for k, v in base_parts.items()})
    print(f"ours:     {our_t:.2f} s for {our_n} analysed frames, {our_events} events "
          f"({media_s / our_t:.1f}x real time); overhead {overhead * 100:+.1f} %",
          {k: round(v, 3) for k, v in our_parts.items()})
    print(f"ours + ring + preview: {full_t:.2f} s; overhead {full_overhead * 100:+.1f} %",
          {k: round(v, 3) for k, v in full_parts.items()})

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
    stage_rows = [[k, f"{v * 1000 / our_n:.1f}"] for k, v in full_parts.items()]
    base_rows = [[k, f"{v * 1000 / base_n:.1f}"] for k, v in base_parts.items()]
    cap_rows = [[int(r["cameras"]), f"{r['min_fps']:.2f}", f"{r['min_source_fps']:.1f}", f"{r['latency_ms']:.0f}",
                 int(r["missed"]), "yes" if r["ok"] else "**no**"] for r in results]
    body = f"""
**Throughput** on `highway_720p.mp4` ({our_n} frames analysed at 5 fps out of 426, best of 3
alternating runs, one thread; goal: overhead under 15 %):

{markdown_table(["", "seconds", "speed vs real time", "overhead"], rows)}

Per analysed frame, ours + extras (ms); decode includes the 5 decoded-but-skipped frames
before each, detect includes the hop to the shared session's thread and YOLOX's box
decoding and NMS (which the bare call does not do):

{markdown_table(["stage", "ms / analysed frame"], stage_rows)}

Baseline (ms): {", ".join(f"{k} {v}" for k, v in base_rows)}.

**Capacity**: 720p cameras at 5 detection fps in one worker, real-time paced, one shared YOLOX
session (1 intra-op thread, 2 inference threads), previews on; {args.seconds:.0f} s per step after
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
