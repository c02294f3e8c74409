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
# object (a rider and a passenger are one motorbike); bicycles and parked bikes are not counted.
#
# Đà Nẵng (frames 120-607; the first 120 are hand-held drift and zoom and are not replayed):
# a bike is counted once, in the direction it crossed, when its bottom (the wheel on the road)
# crosses the gate row y=DANANG_GATE_Y inside the picture between frames 120 and 607. Found on
# a slit-scan of row 400 (the row's pixels stacked frame after frame, all 488 frames, so every
# crossing leaves one blob) and each blob checked on the frames around it (enlarged crops every
# 5-10 frames). Ranges: the left carriageway drifts off the left edge of the picture near the
# gate (a white-shirt rider at frame ~345 and a red bike at ~585 leave the picture with their
# wheel at y~395-400: 12 certain, up to 14); on the right, two bikes have their wheels on the
# gate in the very last frame (14 certain, up to 16). Nothing crossed against the traffic.
DANANG_GATE_Y = 400
DANANG_HAND = {
    "left_gate": {"toward": (12, 14), "away": (0, 0)},
    "right_gate": {"toward": (0, 0), "away": (14, 16)},
}
# Distinct motorbikes = those that crossed either gate (the sum of the above): the tracks
# compared with it are the motorbike tracks whose bottom went across y=400.
DANANG_DISTINCT_HAND = (26, 30)
# HCMC junction (all 54 frames, 10 fps): a motorbike counted when its bottom is at y >= NEAR_Y
# on any frame. The near half of the picture (y 380-720, the junction box and the near
# crossing) is where bikes are 50 px or more wide and a person can tell them apart; above it
# the pack is too dense and small to count with confidence (the issue's own figures: far
# motorbikes are 0 of 54 for the stock model anyway). Counted as the bikes in it on frame 0
# (left road 11-12: one teal bike may be two bikes one behind the other; right side 4) plus the
# ones entering it: on the left road across y=380 (9-10, from a slit-scan of row 385 and strips
# of y 290-420 every 3 frames), on the right from the right edge and the bottom right corner
# (7-10, from a sequence of crops every 3 frames); nothing enters from the left edge or the bottom
# on the left (those are exits). Left 20-22 + right 11-14.
HCMC_NEAR_Y = 380
HCMC_DISTINCT_HAND = (31, 36)
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
    cross_y: float | None = None  # count only tracks whose bottom centre went across y = cross_y (the gates)


CLIPS = [
    Clip("danang", SITES / "danang_lanes.yaml", "cam-dn-nga-ba-hue", DATA / "vn" / "danang_lanes_480p.mp4",
         first_frame=120, cross_y=DANANG_GATE_Y),
    Clip("hcmc", SITES / "hcmc_junction.yaml", "cam-hcm-junction", DATA / "vn" / "hcmc_junction_720p.mp4",
         near_y=HCMC_NEAR_Y),
]


@dataclass
class TrackLog:
    frames: list[int] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    bottoms: list[tuple[float, float]] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)

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
    crossings: list[dict] = []

    def on_frame(frame, result) -> None:
        for c in result.crossings:
            crossings.append({"frame": frame.index, "line": c.line, "track": c.track_id, "direction": c.direction})
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
            log.boxes.append([round(float(v), 1) for v in t.xyxy[i]])
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
    (out / "crossings.json").write_text(json.dumps(crossings))
    return ClipResult(clip, dict(tracks), {k: dict(v) for k, v in counts.items()}, result.frames_analysed, wall,
                      result.speed)


def motorbike_tracks(res: ClipResult, min_points: int) -> list[int]:
    """Track ids voted ``motorbike`` with at least ``min_points`` points, in the clip's counted region."""
    return region_tracks(res, min_points, "motorbike")


def region_tracks(res: ClipResult, min_points: int, cls: str) -> list[int]:
    """Track ids voted ``cls`` with at least ``min_points`` points (near half / across the gates)."""
    out = []
    for tid, log in sorted(res.tracks.items()):
        if log.voted != cls or len(log.frames) < min_points:
            continue
        if res.clip.near_y is not None and not any(y >= res.clip.near_y for _, y in log.bottoms):
            continue
        if res.clip.cross_y is not None and not crosses(log, res.clip.cross_y):
            continue
        out.append(tid)
    return out


def crosses(log: TrackLog, y: float) -> bool:
    """Whether the track's bottom centre was on both sides of the horizontal y (the gates' row)."""
    ys = [b for _, b in log.bottoms]
    return min(ys) < y <= max(ys)


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
        riders = len(region_tracks(res, args.min_points, "pedestrian"))
        hand = DANANG_DISTINCT_HAND if name == "danang" else HCMC_DISTINCT_HAND
        where = (f"frames 120-607, bikes whose bottom crossed a gate (y={DANANG_GATE_Y})" if name == "danang"
                 else f"all 54 frames, near half (bottom y >= {HCMC_NEAR_Y})")
        lengths = sorted(len(res.tracks[t].frames) for t in mb)
        median = lengths[len(lengths) // 2] if lengths else 0
        rows_tracks.append([res.clip.source.name, where, _rng(hand), len(mb), riders, len(all_mb), median,
                            ", ".join(f"{k} {v}" for k, v in classes.most_common()),
                            f"{res.frames_analysed} in {res.wall_s:.1f} s ({res.speed:.1f}x)"])
        print(f"{name}: {len(mb)} motorbike tracks with >= {args.min_points} points counted over {where} "
              f"(+{riders} rider tracks voted pedestrian; {len(all_mb)} motorbike tracks of any length anywhere); hand count {_rng(hand)}; voted classes of tracks with "
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
            {str(t): {"frames": log.frames, "classes": log.classes, "bottoms": log.bottoms, "boxes": log.boxes}
             for t, log in res.tracks.items()}))

    if args.no_write:
        return
    body = "\n\n".join([
        "Stock YOLOX-Nano (`bench/_models.py:stock_yolox()`, product default detector config: full frame, "
        "confidence 0.3, road-user fusion on, motion gate and tiling off), `edge.replay.replay` with the site files `bench/sites/danang_lanes.yaml` "
        "(detect 5 fps, replayed from frame 120: the first 4 s are hand-held drift) and "
        "`bench/sites/hcmc_junction.yaml` (detect 10 fps, every frame). A motorbike track is a confirmed track whose "
        f"voted class is `motorbike` in most of its analysed frames, with at least {args.min_points} points.",
        markdown_table(["clip", "counted over", "hand count", "motorbike tracks", "+ tracks voted pedestrian (riders)",
                        "motorbike tracks, any length, anywhere",
                        "median points", "tracks by voted class", "analysed frames"], rows_tracks),
        "Đà Nẵng per-direction line counts (one gate per carriageway at y=400; left comes towards the camera, "
        "right goes away):",
        markdown_table(["gate", "direction", "hand count (motorbikes)", "replay: motorbike",
                        "replay: motorbike + pedestrian + bicycle", "replay: all classes"], rows_lines),
        "Junction gates (y=460; left road towards the camera, right away; not hand counted per direction, about "
        "10-12 bikes cross the left one, see below): " + "; ".join(
            f"{line} {d}: motorbike {c.get('motorbike', 0)}, all " + (", ".join(f"{k} {v}" for k, v in c.most_common()))
            for line, by_dir in sorted(results["hcmc"].line_counts.items()) for d, c in sorted(by_dir.items())) + ".",
        "By hand: `ioc edge replay bench/sites/danang_lanes.yaml --camera cam-dn-nga-ba-hue --source "
        "../shared/data/vn/danang_lanes_480p.mp4 --from 120 --out DIR` (and `bench/sites/hcmc_junction.yaml --camera "
        "cam-hcm-junction`) prints the same counts; the bench adds an overlay per analysed frame "
        "(`var/bench/counts/NAME/frames/`, drawn from `replay(..., on_frame=...)`), each track's path "
        "(`tracks.json`) and the crossings (`crossings.json`). Those images are of real footage: never committed.",
        FINDINGS,
    ])
    write_section("counts", "Counting and identity on real Vietnamese clips (Đà Nẵng, HCMC junction)", body)


# What was seen in the overlays (var/bench/counts/NAME/frames/, every analysed frame with each
# track's box, voted class and id) and the frames, by hand, on 2026-12-04 at this commit's
# site files and product defaults; track ids are those of this replay (frame-exact, so a rerun
# gives the same ids). Checked again by hand if the detector or tracker changes.
FINDINGS = """\
**How the identity switches were counted.** Every track's path (var/bench/counts/NAME/tracks.json) was screened
for three patterns: a step between consecutive points larger than half the box height (a jump), a track that ends
where another starts within two analysed frames and less than a box height away (one bike given a new id), and two
tracks whose boxes overlap (IoU > 0.3) on one frame (one bike with two ids at once). The flagged cases were then
looked at on the frames, the track's box drawn on the two frames either side. A *switch* is an id that moves to
another bike; a *new id* is one bike that gets a second id.

| clip | tracks (all) | flagged steps looked at | switches (id to another bike) | one bike, a new id (fragmentation) | one bike, two ids at once |
|---|---|---|---|---|---|
| danang_lanes_480p.mp4 | 52 | 6 of 20 jumps (#2, #9, #23, #35, #39, #47: the largest and those on the gates), 5 of 10 hand-overs | **2**: #9 (pedestrian-voted rider) leaves the orange rider after 6 coasted frames and takes a rider 200 px ahead (frames 156 -> 192, 258 px); #47 (2 points) moves from a grey-shirt rider to the dark rider behind him (582 -> 588) | **5** of the 5 looked at: 17 -> 18, 31 -> 34, 44 -> 45 (a lost detection for one analysed frame), 10 -> 12 and 20 -> 21 (the rider flips between `motorbike` and `pedestrian`; the family gate then forbids the old id) | 0 (no overlapping pair) |
| hcmc_junction_720p.mp4 | 49 (in 54 frames) | 19 of 21 jumps (all but car #39 and #16 at 27 -> 31) | **7, maybe 8**: #8 twice (yellow-jacket bike -> the white-helmet bike below it, frames 15 -> 17; white-shirt bike -> the red-helmet pair, 30 -> 31), #16 (white shirt -> red-helmet pair, 36 -> 38), #26 (red-helmet pair -> the dark bike above, 28 -> 29), #30 (red shirt -> the blue-helmet rider ahead, 27 -> 29), #48 (green rider -> the red rider beside her, 51 -> 52), #47 (a bike -> the blue pick-up truck, which the detector called `motorbike` for a frame, 51 -> 52), probably #37 (39 -> 41) | 12 hand-over candidates; #7 -> #20 and #23 (the green-helmet rider, frame 10 -> 12) seen | all 9 overlapping pairs looked at: **4** are one bike with two ids (the red-shirt rider has #13 and, in turn, #25, #28 and #30, frames 18-27; #20 and #23 on the green-helmet rider, frame 12); 5 are two bikes close together or one box over a group (6/9, 8/16, 8/32, 26/27, 31/48) |

**The junction's 30 motorbike tracks against 31-36 bikes is agreement by cancellation, not tracking that
works**: among the 30 are second ids on one bike (#30 on the red-shirt rider, #23 on the green-helmet rider; #25
and #28 have only 2 points and are not counted), fragments of one bike (#7 -> #20), and ids that moved to another
bike (above); against that, about five bikes are hidden inside
group boxes (#8, #27, #31, #45) and several near bikes are never boxed. Counting tracks is not counting bikes here.

The junction's switches are all in the stream of bikes crossing the right half of the junction, packed
side by side, and jump 0.55-1.0 box heights from the last position in one frame (0.1 s); the
seven jumps of that size that were *not* switches (#14, #23, #24, #31, #2, #32, #36) are boxes
growing or shrinking on one bike (a rider box becoming the rider-and-bike box) and one fast bike
next to the camera (#36, 0.87). Đà Nẵng at 5 fps has few switches but many new ids.

**Where it fails (looked at on the overlays).**

- *Bikes found late.* The stock model finds Đà Nẵng's bikes only from about 35 px tall (bottom y > ~360 on this
  view); above that the carriageways' bikes are not boxed at all, so the gates sit at y=400. Bikes coming towards
  the camera are first boxed just above the gate (track 48 is born *on* the gate and is not counted); bikes going
  away are lost soon after it (tracks 10, 23, 44, 45, 49, 52 end at y 350-420).
- *Riders as pedestrians.* On the right carriageway (bikes seen from behind) fusion often leaves the rider as
  `pedestrian`: 10 of the 41 Đà Nẵng tracks with 3 points or more are voted `pedestrian`, and all 10 (looked at on
  their middle frame) are a rider on a bike, 8 of them on the right carriageway; two of the right gate's 9
  two-wheeler crossings are counted as `pedestrian`. A `line_count` or rule on
  `motorbike` alone misses them.
- *Bikes side by side as one box.* Two bikes abreast become one `motorbike` box: Đà Nẵng track 26 (two bikes
  at frame ~370, one count), junction tracks 31 (the red-helmet/green-helmet pair, frames 50-53), 8 and 45
  (groups of 2-3 bikes on the right), 27 (two dark bikes at frame 27).
- *Near, large bikes missed.* At the junction's near crossing (y > 600) several bikes 150 px tall have no box
  in many frames (two at the bottom left at frame 36, the red-helmet pair at frames 27-33, the crate bike and the
  white scooter at Đà Nẵng x~250, frame ~485).
- *Counting.* Đà Nẵng left: 10 of 12-14 counted; the misses are the white scooter never tracked and track 48 born on
  the gate. Right: 9 of 14-16 two-wheelers counted (7 as `motorbike`, 2 as `pedestrian`); missed are three bikes that
  join from the right edge at frames 185-205 (two are first boxed past the gate as `pedestrian`, the one with a red
  crate never), the second of the pair abreast, and the dark-blue bike at ~565 whose track ends at y=411 and
  restarts (44 -> 45) past the gate: a new id across a line loses the crossing. No crossing against the traffic.
- *Junction gates.* About 10-12 bikes cross the junction's left gate (y=460) in the clip (a slit-scan of row 460,
  not checked frame by frame); the replay counts 4 `motorbike` crossings there (tracks 7, 13, 24, 31) and 3 on the
  right: tracks are short (median 7 points at 10 fps) and fragment, so few span the gate.
- *Other classes.* The box truck in the middle is `bus` for its first 33 frames, then `truck` (track 3); the
  right kerb corner with its red-and-white barrier is a `car` for 3 frames (#35, frames 35-37); the blue pick-up is
  `motorbike` for one frame (52), which took a bike's id (#47).
"""

if __name__ == "__main__":
    main()
