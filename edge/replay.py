"""Frame-exact replay: one camera's whole pipeline over a recorded file, as fast as it goes.

`replay` reads the file with OpenCV frame by frame and drives the live pipeline's own
`FrameAnalyzer` and `Cadence` (detector with its gate, tracker, ignore masks, rules,
scenery, frozen check, evidence and signed violation packages) on it. Nothing waits for
the wall clock: a frame's time is its index over the file's frame rate, counted from
``start`` (default `DEFAULT_START`), so the same file and config give the same events at
the same frame numbers on every run and every machine. The motion gate runs on that
clock too. What live sends to the hub goes to ``out`` instead:

- ``events.jsonl``: one line per event, with its frame number;
- ``hits/FRAME-TYPE-tTRACK.jpg``: the frame of each rule hit, with the scene's zones,
  lanes and lines, every track, the hit's track in red and a banner naming the hit;
- ``evidence/NNNN-KIND.EXT``: the evidence each event would have carried;
- ``state/``: the signing key and manifest chain of the replay (never the edge's own).

Without ``out`` the evidence goes to a temporary folder that is removed at the end.

Example::

    site, _ = load_site(Path("site.yaml"), strict=False)
    result = replay(site, "cam-01", Path("clip.mp4"), out=Path("replay-out"),
                    on_event=lambda e: print(e.line()))
    result.events[0].frame, result.events[0].type     # 212, 'count.line'
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import cv2

from analytics.detectors import Detector, YoloxConfig, build_detector
from analytics.detectors.motion import GatedDetector
from analytics.rules.base import RuleHit
from analytics.scene import SceneResult
from contract import Severity
from edge.annotate import draw_banner, draw_scene, draw_tracks
from edge.config import CameraConfig, SiteConfig, SiteProblems
from edge.evidence.violations import FinishedViolation, ViolationEvidence
from edge.exceptions import ReplayError
from edge.outbox import EvidenceFile
from edge.pipeline import Cadence, FrameAnalyzer
from video import Frame, FrameRing

log = logging.getLogger(__name__)

#: Time of frame 0 when none is given: a Monday 08:00 in Vietnam (UTC+7), so rule schedules
#: written for weekday rush hours apply. Fixed, so replays are the same on every day.
DEFAULT_START = datetime(2025, 1, 6, 1, 0, 0, tzinfo=timezone.utc)

_EXT = {"image/jpeg": "jpg", "video/mp4": "mp4", "application/json": "json"}


@dataclass
class ReplayEvent:
    """One event of a replay, as the hub would have received it, plus its frame number."""

    n: int
    frame: int
    type: str
    severity: str
    ts: str
    payload: dict[str, Any]
    track: int | None = None
    cls: str | None = None
    files: list[str] = field(default_factory=list)  # evidence written, relative to the out folder
    image: str | None = None  # the annotated hit image, relative to the out folder

    def line(self, width: int = 100) -> str:
        """One line for a terminal: frame, type, track and class, a short payload."""
        who = f"#{self.track} {self.cls or ''}".strip() if self.track is not None else (self.cls or "")
        skip = {"rule", "track", "class", "box", "frame", "window_start", "window_end", "since"}
        items = [(k, v) for k, v in self.payload.items() if k not in skip and not k.startswith("_")]
        items.sort(key=lambda kv: isinstance(kv[1], (dict, list)))  # figures first, then structures
        short = ", ".join(f"{k}={_short(v)}" for k, v in items)
        text = f"frame {self.frame:>6}  {self.type:<26} {who:<16} {short}"
        return text if len(text) <= width else text[: width - 3] + "..."

    def record(self) -> dict[str, Any]:
        """The JSON-lines record."""
        out = asdict(self)
        out["class"] = out.pop("cls")
        return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return text if len(text) <= 40 else text[:37] + "..."
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


@dataclass
class ReplayResult:
    """What a replay did: its events, how many frames it read and analysed, how fast."""

    camera: str
    source: str
    fps: float
    first_frame: int
    last_frame: int
    frames_read: int
    frames_analysed: int
    wall_s: float
    events: list[ReplayEvent]
    out: Path | None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def speed(self) -> float:
        """Times faster than real time (frames of the file per wall second over its fps)."""
        return (self.frames_read / self.fps) / self.wall_s if self.wall_s > 0 else float("inf")

    def summary(self) -> str:
        """The closing line: frames, events, speed, where the files are."""
        where = f"; events.jsonl and hit images in {self.out}" if self.out is not None else ""
        return (f"{self.camera}: frames {self.first_frame}-{self.last_frame} of {Path(self.source).name} "
                f"({self.frames_analysed} analysed at {self.fps:g} fps file time), {len(self.events)} event(s), "
                f"{self.wall_s:.1f} s wall ({self.speed:.2f}x real time){where}")


class ReplaySink:
    """The replay's `EventSink`: numbers events, writes their evidence and the JSON-lines file."""

    def __init__(self, out: Path, fps: float, start: datetime, keep: bool,
                 on_event: Callable[[ReplayEvent], None] | None = None) -> None:
        self.out = out
        self.fps = fps
        self.start = start
        self.keep = keep
        self.on_event = on_event
        self.events: list[ReplayEvent] = []
        self.images: dict[tuple[str, float, int | None], str] = {}
        self._jsonl = (out / "events.jsonl").open("w", encoding="utf-8") if keep else None

    def frame_of(self, ts: datetime) -> int:
        return round((ts - self.start).total_seconds() * self.fps)

    def emit(self, camera: CameraConfig, type: str, severity: Severity, ts: datetime,
             payload: dict[str, Any], files: list[EvidenceFile], event_id: Any = None) -> ReplayEvent:
        n = len(self.events) + 1
        written = []
        if self.keep:
            for i, f in enumerate(files):
                rel = Path("evidence") / f"{n:04d}-{i}-{f.kind}.{_EXT.get(f.mime, 'bin')}"
                (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
                (self.out / rel).write_bytes(f.data)
                written.append(str(rel))
        track = payload.get("track")
        event = ReplayEvent(n=n, frame=self.frame_of(ts), type=type, severity=severity,
                            ts=ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                            payload=_jsonable(payload), track=track, cls=payload.get("class"), files=written,
                            image=self.images.pop((type, round(ts.timestamp(), 3), track), None))
        self.events.append(event)
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(event.record(), ensure_ascii=False, sort_keys=True) + "\n")
            self._jsonl.flush()
        if self.on_event is not None:
            self.on_event(event)
        return event

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def parse_start(text: str | None) -> datetime:
    """``--start``: an ISO 8601 time (no zone: UTC) for frame 0; None: `DEFAULT_START`."""
    if not text:
        return DEFAULT_START
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ReplayError(f"--start {text!r}: not an ISO 8601 time such as 2025-01-06T08:00:00+07:00") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _violations(site: SiteConfig, data_dir: Path) -> ViolationEvidence | None:
    """Signed violation packaging for the replay (its own key and chain in ``data_dir``)."""
    cfg = site.violations
    if not cfg.enabled:
        return None
    reader = None
    if cfg.plates is not None and any("plate" in r.evidence for c in site.cameras for r in c.scene.rules):
        from analytics.plates.reader import build_plate_reader  # loads OCR models: only when needed

        reader = build_plate_reader(cfg.plates)
    return ViolationEvidence(data_dir, site.edge.id, cfg.evidence, plate_reader=reader)


def find_camera(site: SiteConfig, camera_id: str, problems: SiteProblems | None = None) -> CameraConfig:
    """The camera ``camera_id`` of the site; `ReplayError` naming the cameras there are."""
    for camera in site.cameras:
        if camera.id == camera_id:
            return camera
    if problems is not None and camera_id in problems.cameras:
        raise ReplayError(f"camera {camera_id!r} has an invalid config:\n  " + "\n  ".join(problems.cameras[camera_id]))
    known = ", ".join(c.id for c in site.cameras) or "none"
    raise ReplayError(f"no camera {camera_id!r} in the site config; cameras: {known}")


def build_replay_detector(site: SiteConfig, camera: CameraConfig) -> Detector:
    """The camera's detector stack as the live worker composes it (model, tiling, fusion, gate)."""
    config = site.detector_for(camera)
    if isinstance(config, YoloxConfig):
        if not config.model.is_file():
            raise ReplayError(f"model {config.model} not found (`ioc models fetch yolox-nano` installs it)")
        if config.class_map is None:
            from edge.models import ensure_class_map

            ensure_class_map(config.model)
        from analytics.scene import scene_regions

        return build_detector(config, scene_regions(camera.scene))
    return build_detector(config)


def replay(site: SiteConfig, camera_id: str, source: Path, out: Path | None = None, *,
           first_frame: int = 0, last_frame: int | None = None, detect_fps: float | None = None,
           start: datetime = DEFAULT_START, problems: SiteProblems | None = None,
           detector: Detector | None = None, on_event: Callable[[ReplayEvent], None] | None = None,
           annotate: bool = True, on_frame: Callable[[Frame, SceneResult], None] | None = None) -> ReplayResult:
    """Run camera ``camera_id``'s pipeline over ``source`` (frames ``first_frame`` to ``last_frame``).

    ``detect_fps`` overrides the camera's analysis rate (None: as configured; the file's
    own rate or more analyses every frame: 30 on a 30.006 fps file skips one in 170).
    ``detector`` replaces the configured one (tests share one session). ``on_event`` sees
    each event as it is stored; ``on_frame(frame, result)`` is called after each analysed
    frame with the scene's result (its confirmed tracks, ids and voted classes), e.g. to
    draw every frame's tracks. `ReplayError` when the camera or file is not there or unreadable.
    """
    camera = find_camera(site, camera_id, problems)
    source = Path(source)
    if not source.is_file():
        raise ReplayError(f"{source}: no such file")
    if first_frame < 0 or (last_frame is not None and last_frame < first_frame):
        raise ReplayError(f"bad frame range: --from {first_frame} --to {last_frame}")
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise ReplayError(f"{source}: not a video file OpenCV can read")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not 0.5 <= fps <= 1000:
        cap.release()
        raise ReplayError(f"{source}: the file does not say its frame rate (got {fps}); frame times need it")
    keep = out is not None
    work = Path(out) if keep else Path(tempfile.mkdtemp(prefix="ioc-replay-"))
    work.mkdir(parents=True, exist_ok=True)
    own_detector = detector is None
    try:
        detector = detector or build_replay_detector(site, camera)
        return _run(site, camera, source, cap, fps, work, keep, first_frame, last_frame, detect_fps, start,
                    detector, on_event, annotate and keep, on_frame)
    finally:
        cap.release()
        if own_detector and detector is not None:
            detector.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _run(site: SiteConfig, camera: CameraConfig, source: Path, cap: cv2.VideoCapture, fps: float, work: Path,
         keep: bool, first_frame: int, last_frame: int | None, detect_fps: float | None, start: datetime,
         detector: Detector, on_event: Callable[[ReplayEvent], None] | None, annotate: bool,
         on_frame: Callable[[Frame, SceneResult], None] | None = None) -> ReplayResult:
    frame_time = [0.0]
    if isinstance(detector, GatedDetector):
        detector.clock = lambda: frame_time[0]  # refresh_s counts file seconds, not wall seconds
    sink = ReplaySink(work, fps, start, keep, on_event)
    ev = camera.evidence
    violations = _violations(site, work / "state")
    wants_clips = violations is not None or (ev.clip and any("clip" in r.evidence for r in camera.scene.rules))
    ring = FrameRing(seconds=ev.ring_s, fps=ev.ring_fps, jpeg_quality=ev.jpeg_quality, max_width=ev.max_width)

    def on_hit(hit: RuleHit, frame: Frame | None, result: SceneResult | None) -> None:
        if not annotate or frame is None or result is None:
            return
        name = f"{frame.index:06d}-{hit.type}-t{hit.track_id if hit.track_id is not None else 'x'}.jpg"
        image = draw_scene(draw_tracks(frame.image, result.tracks,
                                       [hit.track_id] if hit.track_id is not None else []), camera.scene)
        who = f" #{hit.track_id} {hit.class_name or ''}" if hit.track_id is not None else ""
        draw_banner(image, f"{camera.id} frame {frame.index} t={frame.index / fps:.2f}s  {hit.type}{who}")
        (work / "hits").mkdir(exist_ok=True)
        cv2.imwrite(str(work / "hits" / name), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        sink.images[(hit.type, round(hit.ts, 3), hit.track_id)] = str(Path("hits") / name)

    def finished(done: list[FinishedViolation]) -> None:
        for item in done:
            files = [EvidenceFile(data, mime, kind) for data, mime, kind in item.blobs()]
            sink.emit(camera, item.hit.type, item.hit.severity, item.ts, item.payload, files, event_id=item.event_id)

    analyzer = FrameAnalyzer(camera, detector, sink, ring=ring, violations=violations, clips=None, on_hit=on_hit)
    cadence = Cadence(detect_fps or camera.detect_fps)
    index, read, analysed = 0, 0, 0
    started = time.perf_counter()
    try:
        while last_frame is None or index <= last_frame:
            if index < first_frame:
                if not cap.grab():
                    break
                index += 1
                continue
            ok, image = cap.read()
            if not ok:
                break
            read += 1
            t = index / fps  # the file's own clock: frame N is at N / fps, whatever --from says
            frame_time[0] = t
            frame = Frame.from_array(image, ts=start + timedelta(seconds=t), mono=t, index=index)
            if wants_clips:
                ring.add(frame)
            due, _ = cadence.due(t)
            if due:
                result = analyzer.analyse(frame)
                analysed += 1
                if on_frame is not None:
                    on_frame(frame, result)
            if violations is not None:
                finished(violations.poll(t, rings=ring))
            index += 1
        analyzer.finish()
        if violations is not None:
            finished(violations.poll(frame_time[0], rings=ring, force=True))
    finally:
        sink.close()
    wall = time.perf_counter() - started
    if read == 0:
        raise ReplayError(f"{source}: no frames in the range --from {first_frame}" +
                          (f" --to {last_frame}" if last_frame is not None else ""))
    stats = {"processed": analyzer.stats.processed, "ignored": analyzer.stats.ignored,
             "suppressed": analyzer.stats.suppressed, "events": len(sink.events)}
    if isinstance(detector, GatedDetector):
        stats.update(gate_ran=detector.ran, gate_skipped=detector.skipped, gate_held=detector.held)
    return ReplayResult(camera=camera.id, source=str(source), fps=fps, first_frame=first_frame,
                        last_frame=first_frame + read - 1, frames_read=read, frames_analysed=analysed, wall_s=wall,
                        events=sink.events, out=work if keep else None, stats=stats)
