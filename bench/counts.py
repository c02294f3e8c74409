"""Counting and identity on real Vietnamese clips: motorbike tracks and line counts against hand counts.

Run: ``python -m bench.counts [--min-points 3] [--no-frames] [--no-write]``.

For ``vn/danang_lanes_480p.mp4`` (Đà Nẵng, two carriageways, 30 fps, detect 5 fps) and
``vn/hcmc_junction_720p.mp4`` (HCMC junction, 10 fps, detect 10 fps) it runs
``ioc edge replay``'s code path (`edge.replay.replay`) with the site files in
``bench/sites/`` and the stock YOLOX-Nano (`bench._models.stock_yolox`), and prints:

- the distinct motorbike tracks: confirmed tracks whose voted class is ``motorbike`` in most
  of their analysed frames, seen in at least ``--min-points`` analysed frames (in the
  junction, only those whose bottom centre was in the counted near half at least once);
- the per-direction line counts of each carriageway's gate (`count.line` events);
- the hand counts below, made by looking at the frames (see their comments).

The replay's events and hit images go to ``var/bench/counts/NAME/``; with frames on (the
default) every analysed frame is also written there as ``frames/FRAME.jpg`` with the scene,
each track's box, voted class and id: the overlays the identity switches were counted on.
Those images come from real footage: never commit them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from bench._models import BENCH_DIR, DATA, stock_yolox
from bench._report import markdown_table, write_section
from edge.annotate import draw_banner, draw_scene, draw_tracks
from edge.config import load_site
from edge.replay import replay

SITES = Path(__file__).resolve().parent / "sites"
OUT = BENCH_DIR / "counts"

# ---------------------------------------------------------------------------------------
# Hand counts (2026-12-04, by one engineer, from the frames converted to PNG, enlarged crops
# where a bike was small or hidden). A "motorbike" is a two-wheeler with its rider(s), one
# object; bicycles and parked bikes are not counted.
#
# Đà Nẵng: frames 120-607 (the first 120 are hand-held drift and zoom, not replayed), every
# 6th frame (the analysed ones at 5 fps) stepped through, each bike followed from frame to
# frame until its bottom crossed the gate's y=400; a bike is counted once, in the direction
# it crossed; bikes still short of the gate at frame 607 or already past it at frame 120 are
# not counted. The range is the doubt about bikes hidden behind another at the crossing or
# crossing within the first/last half second.
DANANG_HAND = {
    "left_gate": {"toward": (0, 0), "away": (0, 0)},
    "right_gate": {"toward": (0, 0), "away": (0, 0)},
}
# Distinct motorbikes seen on the road over frames 120-607 (both carriageways, anything
# from the underpass mouth, y >= 200, down to the bottom edge), counted the same way.
DANANG_DISTINCT_HAND = (0, 0)
# HCMC junction: all 54 frames looked at (every frame for the near half), a motorbike
# counted when its bottom centre is at y >= NEAR_Y (the near half of the picture, where
# bikes are 40 px or more wide and a person can tell them apart; beyond it the pack is too
# dense to count with confidence). Each bike is given a number on the first frame it enters
# and followed until it leaves; bikes that enter and those present on frame 0 are counted.
HCMC_NEAR_Y = 380
HCMC_DISTINCT_HAND = (0, 0)
# ---------------------------------------------------------------------------------------


# Classes a real motorbike crossing shows up as when fusion misses (a rider alone as pedestrian).
TWO_WHEELER_LIKE = ("motorbike", "pedestrian", "bicycle")


@dataclass
class Clip:
    name: str
    site: Path
    camera: str
    source: Path
    first_frame: int = 0
    near_y: float | None = None  # count only tracks whose bottom centre reached y >= near_y


CLIPS = [
    Clip("danang", SITES / "danang_lanes.yaml", "cam-dn-nga-ba-hue", DATA / "vn" / "danang_lanes_480p.mp4",
         first_frame=120),
    Clip("hcmc", SITES / "hcmc_junction.yaml", "cam-hcm-junction", DATA / "vn" / "hcmc_junction_720p.mp4",
         near_y=HCMC_NEAR_Y),
]


@dataclass
class TrackLog:
    frames: list[int] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    bottoms: list[tuple[float, float]] = field(default_factory=list)

    @property
    def voted(self) -> str:
        return Counter(self.classes).most_common(1)[0][0]


@dataclass
class ClipResult:
    clip: Clip
    tracks: dict[int, TrackLog]
    line_counts: dict[str, dict[str, Counter]]  # line -> direction -> class -> count
    frames_analysed: int
    wall_s: float
    speed: float


def run_clip(clip: Clip, frames: bool = True) -> ClipResult:
    stock_yolox()
    site, problems = load_site(clip.site, strict=False)
    camera = next(c for c in site.cameras if c.id == clip.camera)
    out = OUT / clip.name
    if (out / "frames").is_dir():
        for old in (out / "frames").glob("*.jpg"):
            old.unlink()
    (out / "frames").mkdir(parents=True, exist_ok=True)
    tracks: dict[int, TrackLog] = defaultdict(TrackLog)

    def on_frame(frame, result) -> None:
        t = result.tracks
        names = t.class_names
        anchors = t.anchors()
        for i in range(len(t)):
            tid = int(t.tracker_id[i])
            if tid < 0:
                continue
            log = tracks[tid]
            log.frames.append(frame.index)
            log.classes.append(names[i])
            log.bottoms.append((float(anchors[i][0]), float(anchors[i][1])))
        if frames:
            image = draw_scene(draw_tracks(frame.image, t), camera.scene)
            if clip.near_y is not None:
                cv2.line(image, (0, int(clip.near_y)), (image.shape[1], int(clip.near_y)), (0, 255, 0), 1)
            draw_banner(image, f"{clip.camera} frame {frame.index}  {len(t)} track(s)")
            cv2.imwrite(str(out / "frames" / f"{frame.index:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])

    started = time.perf_counter()
    result = replay(site, clip.camera, clip.source, out=out, first_frame=clip.first_frame, problems=problems,
                    on_frame=on_frame)
    wall = time.perf_counter() - started
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for e in result.events:
        if e.type == "count.line":
            for direction, by_class in e.payload.get("counts", {}).items():
                counts[e.payload["line"]][direction].update(by_class)
    return ClipResult(clip, dict(tracks), {k: dict(v) for k, v in counts.items()}, result.frames_analysed, wall,
                      result.speed)


def motorbike_tracks(res: ClipResult, min_points: int) -> list[int]:
    """Track ids voted ``motorbike`` with at least ``min_points`` points (and in the near half)."""
    out = []
    for tid, log in sorted(res.tracks.items()):
        if log.voted != "motorbike" or len(log.frames) < min_points:
            continue
        if res.clip.near_y is not None and not any(y >= res.clip.near_y for _, y in log.bottoms):
            continue
        out.append(tid)
    return out


def _rng(r: tuple[int, int]) -> str:
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}-{r[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-points", type=int, default=3, help="analysed frames a track needs to count")
    parser.add_argument("--no-frames", action="store_true", help="do not write an overlay per analysed frame")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()

    results = {c.name: run_clip(c, frames=not args.no_frames) for c in CLIPS}
    rows_tracks, rows_lines = [], []
    for name, res in results.items():
        mb = motorbike_tracks(res, args.min_points)
        all_mb = [t for t, log in res.tracks.items() if log.voted == "motorbike"]
        classes = Counter(log.voted for log in res.tracks.values() if len(log.frames) >= args.min_points)
        hand = DANANG_DISTINCT_HAND if name == "danang" else HCMC_DISTINCT_HAND
        where = ("frames 120-607, whole road" if name == "danang"
                 else f"all 54 frames, near half (bottom y >= {HCMC_NEAR_Y})")
        lengths = sorted(len(res.tracks[t].frames) for t in mb)
        median = lengths[len(lengths) // 2] if lengths else 0
        rows_tracks.append([res.clip.source.name, where, _rng(hand), len(mb), len(all_mb), median,
                            ", ".join(f"{k} {v}" for k, v in classes.most_common()),
                            f"{res.frames_analysed} in {res.wall_s:.1f} s ({res.speed:.1f}x)"])
        print(f"{name}: {len(mb)} motorbike tracks with >= {args.min_points} points "
              f"({len(all_mb)} of any length); hand count {_rng(hand)}; voted classes of tracks with "
              f">= {args.min_points} points: {dict(classes)}; {res.frames_analysed} frames analysed in "
              f"{res.wall_s:.1f} s")
        for line, by_dir in sorted(res.line_counts.items()):
            print(f"  {line}: " + "; ".join(f"{d} {dict(c)}" for d, c in sorted(by_dir.items())))
        if name == "danang":
            for line in ("left_gate", "right_gate"):
                for d in ("toward", "away"):
                    got = res.line_counts.get(line, {}).get(d, Counter())
                    two = sum(got.get(k, 0) for k in TWO_WHEELER_LIKE)
                    rows_lines.append([line, d, _rng(DANANG_HAND[line][d]), got.get("motorbike", 0), two,
                                       ", ".join(f"{k} {v}" for k, v in got.most_common()) or "-"])
                    print(f"  {line} {d}: replay motorbike {got.get('motorbike', 0)} (motorbike+pedestrian+bicycle "
                          f"{two}), hand {_rng(DANANG_HAND[line][d])}")
        (OUT / name / "tracks.json").write_text(json.dumps(
            {str(t): {"frames": log.frames, "classes": log.classes, "bottoms": log.bottoms}
             for t, log in res.tracks.items()}))

    if args.no_write:
        return
    body = "\n\n".join([
        "Stock YOLOX-Nano (`bench/_models.py:stock_yolox()`, product default detector config: full frame, "
        "confidence 0.3, gate on, no tiling), `edge.replay.replay` with the site files `bench/sites/danang_lanes.yaml` "
        "(detect 5 fps, replayed from frame 120: the first 4 s are hand-held drift) and "
        "`bench/sites/hcmc_junction.yaml` (detect 10 fps, every frame). A motorbike track is a confirmed track whose "
        f"voted class is `motorbike` in most of its analysed frames, with at least {args.min_points} points.",
        markdown_table(["clip", "counted over", "hand count", "motorbike tracks", "of any length",
                        "median points", "tracks by voted class", "analysed frames"], rows_tracks),
        "Đà Nẵng per-direction line counts (one gate per carriageway at y=400; left comes towards the camera, "
        "right goes away):",
        markdown_table(["gate", "direction", "hand count (motorbikes)", "replay: motorbike",
                        "replay: motorbike + pedestrian + bicycle", "replay: all classes"], rows_lines),
        FINDINGS,
    ])
    write_section("counts", "Counting and identity on real Vietnamese clips (Đà Nẵng, HCMC junction)", body)


# What was seen in the overlays (var/bench/counts/NAME/frames/), by hand; see the text.
FINDINGS = """\
Identity switches and failure modes: not yet reviewed.
"""


if __name__ == "__main__":
    main()
