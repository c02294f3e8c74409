"""One camera's pipeline: capture → (motion gate) → detect → track → rules → events.

Two parts. `FrameAnalyzer` is what happens to one frame: the frozen-picture check,
detection, the scene (tracker, ignore masks, rules, scenery), telling the motion gate
which tracks move, and turning hits into events with evidence (annotated overview,
close-up, clip from the ring buffer; traffic violations go to `edge.evidence`'s
`ViolationEvidence` for signed packages instead). `CameraPipeline` runs it live: the
capture thread (`video.CameraStream`) feeds a latest-frame slot and the analysis thread
takes the newest frame each time a detection is due (`Cadence`, ``detect_fps``), so a
slow detector makes it skip frames, never lag; stream status changes become
``camera.offline`` / ``camera.online`` events. `edge.replay` drives the same
`FrameAnalyzer` and `Cadence` frame by frame over a recorded file, as fast as the
machine allows.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

import numpy as np

from analytics.detections import Detections
from analytics.detectors import Detector
from analytics.rules.base import RuleHit
from analytics.scene import SceneAnalyzer, SceneResult
from edge.annotate import crop_box, draw_banner, draw_tracks, placeholder, preview_image
from edge.config import CameraConfig, PreviewConfig
from edge.evidence.packager import CameraInfo
from edge.evidence.violations import ViolationEvidence
from edge.outbox import EvidenceFile
from contract import Severity
from video import (CameraStream, CaptureOptions, ClipError, Frame, FrameRing, FrozenChange, FrozenPicture, MjpegServer,
                   StatusChange, StreamOptions, encode_jpeg, write_clip)

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where a pipeline's events go (the worker's outbox writer)."""

    def emit(self, camera: CameraConfig, type: str, severity: Severity, ts: datetime,
             payload: dict[str, Any], files: list[EvidenceFile], event_id: Any = None) -> Any: ...


@dataclass
class PipelineStats:
    """What the heartbeat reports for one camera."""

    processed: int = 0
    missed: int = 0  # detection slots skipped because the pipeline was behind
    events: int = 0
    errors: int = 0
    last_error: str | None = None
    ignored: int = 0  # detections dropped by ignore masks
    suppressed: int = 0  # hits of scenery (tracks that never moved) not raised
    frozen: bool = False  # the picture is frozen now
    frozen_skipped: int = 0  # frames not analysed because the picture was frozen


class Cadence:
    """Which frames are due for analysis at ``fps``, by their capture time (seconds).

    A frame is due when its time reaches the next slot; slots follow the frames (a late
    frame moves the next slot, it never causes a burst). The live pipeline feeds it
    monotonic capture times, replay the file's frame times, so both analyse the same frames.

    Example::

        >>> cadence = Cadence(10.0)
        >>> [i for i in range(12) if cadence.due(i / 30)[0]]
        [0, 3, 6, 9]
    """

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._next: float | None = None

    def due(self, t: float) -> tuple[bool, int]:
        """(whether the frame at ``t`` is due, how many slots were missed before it)."""
        if self._next is not None and t < self._next - 1e-9:
            return False, 0
        missed = 0
        if self._next is not None:
            behind = t - self._next
            # A gap of seconds is the source's (a reconnect), not slots the analysis missed.
            if self.interval < behind <= max(2.0, 4 * self.interval):
                missed = int(behind / self.interval)
            self._next = max(self._next + self.interval, t - self.interval / 2)
        else:
            self._next = t + self.interval
        return True, missed


HitObserver = Callable[[RuleHit, "Frame | None", "SceneResult | None"], None]
ClipJob = tuple[RuleHit, datetime, list[EvidenceFile], float, list[bytes]]


class FrameAnalyzer:
    """Everything one camera does with one frame; the same object live and in replay.

    ``sink`` stores events; ``ring`` is the camera's recent frames (clips come from it);
    ``violations`` packages traffic violations; ``clips`` takes clip jobs (the live
    pipeline queues them for its clip thread; None encodes them here, in line, as
    replay does); ``on_hit`` sees every hit with its frame and scene result before its
    evidence is made (replay draws its annotated images there).

    Example::

        analyzer = FrameAnalyzer(camera_cfg, detector, sink=outbox_writer, ring=FrameRing())
        for frame in frames:
            result = analyzer.analyse(frame)      # SceneResult: tracks, hits, moving, scenery
        analyzer.finish()                         # close open counts
    """

    def __init__(self, camera: CameraConfig, detector: Detector, sink: EventSink, ring: FrameRing | None = None,
                 violations: ViolationEvidence | None = None, clips: Callable[[ClipJob], None] | None = None,
                 on_hit: HitObserver | None = None) -> None:
        self.camera = camera
        self.detector = detector
        self.sink = sink
        self.ring = ring
        self.violations = violations
        self.clips = clips
        self.on_hit = on_hit
        self.camera_info = CameraInfo(id=camera.id, name=camera.name or camera.id,
                                      place=camera.place or camera.name or camera.id, unit=camera.unit)
        self.scene = SceneAnalyzer(camera.scene)
        fz = camera.frozen
        self.frozen = FrozenPicture(fz.after_s, fz.noise_floor, fz.width) if fz.enabled else None
        self.stats = PipelineStats()
        self.last_result: SceneResult | None = None
        self._scene_ts: float | None = None
        self._last_clip: tuple[float, EvidenceFile] | None = None
        # The gate (outermost in every detector stack) is told after each frame which tracks move.
        self._tell_gate: Callable[[int], None] | None = getattr(detector, "tracks_moving", None)

    def analyse(self, frame: Frame) -> SceneResult:
        """Check, detect, track, evaluate and emit for one frame; the scene's result."""
        image = frame.image
        # The scene works in UTC epoch seconds (rule schedules are wall-clock times); a clock
        # stepped back by NTP must not make time run backwards for the tracker.
        ts = frame.ts.timestamp()
        if self._scene_ts is not None and ts <= self._scene_ts:
            ts = self._scene_ts + 1e-3
        self._scene_ts = ts
        if self.frozen is not None:
            change = self.frozen.update(image, ts)
            if change is not None:
                self._frozen_event(change, frame)
            if self.frozen.frozen:
                # A frozen picture shows a moment that is over: a car on it would "stand"
                # until a stopping rule fired. Nothing is analysed until the picture moves.
                self.stats.frozen_skipped += 1
                empty = SceneResult(tracks=Detections.empty(), hits=[])
                self.last_result = empty
                return empty
        detections = self.detector.detect(image)
        result = self.scene.process(image, ts, detections)
        self.last_result = result
        self.stats.processed += 1
        self.stats.ignored += result.ignored
        self.stats.suppressed += len(result.suppressed)
        if self._tell_gate is not None:
            self._tell_gate(len(result.moving))
        for hit in result.hits:
            self.emit_hit(hit, frame)
        return result

    def finish(self) -> None:
        """Close open aggregates (line counts) when the source ends or the camera stops."""
        for hit in self.scene.flush():
            self.emit_hit(hit, None)

    def _frozen_event(self, change: FrozenChange, frame: Frame) -> None:
        self.stats.frozen = change.state == "frozen"
        since = datetime.fromtimestamp(change.since, timezone.utc).isoformat().replace("+00:00", "Z")
        payload = {"frozen_s": round(change.frozen_s, 1), "since": since, "frame": frame.index}
        if change.state == "frozen":
            log.warning("camera %s: picture frozen for %.1f s while frames arrive", self.camera.id, change.frozen_s)
            self.sink.emit(self.camera, "camera.frozen", "warning", frame.ts, payload, [])
        else:
            log.info("camera %s: picture moves again after %.1f s", self.camera.id, change.frozen_s)
            self.sink.emit(self.camera, "camera.unfrozen", "info", frame.ts, payload, [])

    def emit_hit(self, hit: RuleHit, frame: Frame | None) -> None:
        """Turn one rule hit into an event with its evidence (or a violation package)."""
        if self.on_hit is not None:
            self.on_hit(hit, frame, self.last_result if frame is not None else None)
        # Violations get signed evidence packages, finished (clip included) a few seconds
        # later by the worker's ViolationEvidence thread, which then writes the event.
        if (frame is not None and self.violations is not None
                and self.violations.submit(hit, frame, self.camera_info, self.camera.scene, ring=self.ring)):
            self.stats.events += 1
            return
        ts = datetime.fromtimestamp(hit.ts, timezone.utc)
        files = self._images(hit, frame) if frame is not None else []
        self.stats.events += 1
        if frame is not None and self.ring is not None and "clip" in hit.evidence and self.camera.evidence.clip:
            window = self.ring.window(frame.mono - self.camera.evidence.clip_before_s, frame.mono + 0.01)
            job: ClipJob = (hit, ts, files, frame.mono, [f.jpeg for f in window])
            if self.clips is not None:
                self.clips(job)
            else:
                self.run_clip_job(job)
            return
        self.sink.emit(self.camera, hit.type, hit.severity, ts, hit.event_payload(), files)

    def _images(self, hit: RuleHit, frame: Frame) -> list[EvidenceFile]:
        cfg = self.camera.evidence
        wanted = set(hit.evidence)
        files: list[EvidenceFile] = []
        highlight = [hit.track_id] if hit.track_id is not None else []
        if "overview" in wanted and cfg.overview and self.last_result is not None:
            overview = draw_tracks(frame.image, self.last_result.tracks, highlight)
            files.append(EvidenceFile(encode_jpeg(overview, cfg.jpeg_quality, cfg.max_width), "image/jpeg", "overview"))
        if "crop" in wanted and cfg.crop and hit.box is not None:
            crop = crop_box(frame.image, hit.box)
            if crop is not None:
                files.append(EvidenceFile(encode_jpeg(crop, cfg.jpeg_quality), "image/jpeg", "crop"))
        return files

    def run_clip_job(self, job: ClipJob) -> None:
        """Encode a hit's clip and store its event (the event is stored even if the clip fails)."""
        hit, ts, files, mono, jpegs = job
        try:
            clip = self._clip(mono, jpegs)
        except Exception:
            log.exception("camera %s: clip job failed", self.camera.id)
            clip = None
        self.sink.emit(self.camera, hit.type, hit.severity, ts, hit.event_payload(),
                       files + ([clip] if clip is not None else []))

    def _clip(self, mono: float, jpegs: list[bytes]) -> EvidenceFile | None:
        # Several hits in one moment (a wrong-way bus seen by two rules) share one clip.
        if self._last_clip is not None and abs(self._last_clip[0] - mono) < 1.0:
            return self._last_clip[1]
        if len(jpegs) < 2 or self.ring is None:
            return None
        try:
            data = write_clip(jpegs, fps=self.ring.fps)
        except ClipError as exc:
            log.warning("camera %s: no clip: %s", self.camera.id, exc)
            return None
        clip = EvidenceFile(data, "video/mp4", "clip")
        self._last_clip = (mono, clip)
        return clip


class CameraPipeline:
    """Runs one camera live, from capture to events, in three threads (capture, analysis, clips).

    Example::

        pipe = CameraPipeline(camera_cfg, detector, sink=worker, preview=mjpeg_server)
        pipe.start()
        pipe.status, pipe.detect_fps, pipe.latency_ms
        pipe.stop()
    """

    def __init__(self, camera: CameraConfig, detector: Detector, sink: EventSink,
                 preview: MjpegServer | None = None, preview_cfg: PreviewConfig | None = None,
                 violations: ViolationEvidence | None = None) -> None:
        self.camera = camera
        self.detector = detector
        self.sink = sink
        self.preview = preview
        self.preview_cfg = preview_cfg or PreviewConfig()
        ev = camera.evidence
        self.ring = FrameRing(seconds=ev.ring_s, fps=ev.ring_fps, jpeg_quality=ev.jpeg_quality, max_width=ev.max_width)
        self._clip_jobs: queue.Queue[ClipJob | None] = queue.Queue()
        # Encoding a clip takes 0.5 s of CPU and more on a busy box: the clip thread does it
        # and then stores the event, so this camera's analysis never stalls.
        self.analyzer = FrameAnalyzer(camera, detector, sink, ring=self.ring, violations=violations,
                                      clips=self._clip_jobs.put)
        self.stats = self.analyzer.stats
        options = StreamOptions(
            capture=CaptureOptions(open_timeout_s=camera.open_timeout_s, stall_timeout_s=camera.stall_timeout_s,
                                   realtime=camera.realtime, loop=camera.loop),
            backoff_max_s=camera.backoff_max_s,
        )
        self.stream = CameraStream(camera.id, camera.url, options, on_status=self._on_status)
        self.stream.add_sink(self.ring.add)
        self._slot = self.stream.subscribe("pipeline")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latency: deque[float] = deque(maxlen=50)
        self._done: deque[float] = deque(maxlen=26)
        self._last_preview = 0.0
        self._clip_thread: threading.Thread | None = None

    @property
    def scene(self) -> SceneAnalyzer:
        """This camera's scene (tracker, geometry, rules)."""
        return self.analyzer.scene

    @property
    def last_result(self) -> SceneResult | None:
        return self.analyzer.last_result

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start capture and analysis."""
        self._thread = threading.Thread(target=self._run, name=f"pipeline-{self.camera.id}", daemon=True)
        self._clip_thread = threading.Thread(target=self._clip_worker, name=f"clips-{self.camera.id}", daemon=True)
        self._clip_thread.start()
        self._thread.start()
        self.stream.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads; waits for the frame in progress and stores pending clip events."""
        self._stop.set()
        self.stream.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("pipeline of %s did not stop within %.0f s", self.camera.id, timeout)
        self._clip_jobs.put(None)
        if self._clip_thread is not None:
            self._clip_thread.join(60)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the analysis thread to end (a file that does not loop ends by itself)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the analysis thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -- figures for the heartbeat -----------------------------------------------------

    @property
    def status(self) -> str:
        """``online`` or ``offline`` (the hub knows only these two)."""
        return "online" if self.stream.status == "online" else "offline"

    @property
    def detect_fps(self) -> float:
        """Frames analysed per second over the last ~25 frames."""
        if len(self._done) < 2 or time.monotonic() - self._done[-1] > 3.0:
            return 0.0
        return (len(self._done) - 1) / max(self._done[-1] - self._done[0], 1e-6)

    @property
    def latency_ms(self) -> float:
        """Mean time from a frame's capture to the end of its analysis (ms)."""
        return sum(self._latency) / len(self._latency) if self._latency else 0.0

    # -- the analysis loop -------------------------------------------------------------

    def _run(self) -> None:
        cadence = Cadence(self.camera.detect_fps)
        while not self._stop.is_set():
            frame = self._slot.get(timeout=0.5)
            if frame is None:
                if self._slot.closed:
                    break  # the stream ended (a file) or stopped
                continue
            due, missed = cadence.due(frame.mono)
            if not due:
                continue  # not due yet: this camera runs at detect_fps, not at the source rate
            self.stats.missed += missed
            try:
                self._analyse(frame)
            except Exception as exc:  # log and go on with the next frame: a bad frame must not end the camera
                self.stats.errors += 1
                if str(exc) != self.stats.last_error:
                    log.exception("camera %s: analysis failed", self.camera.id)
                self.stats.last_error = str(exc)
        self.analyzer.finish()

    def _analyse(self, frame: Frame) -> None:
        result = self.analyzer.analyse(frame)
        now = time.monotonic()
        self._latency.append((now - frame.mono) * 1000)
        self._done.append(now)
        if self.preview is not None and now - self._last_preview >= 1.0 / self.preview_cfg.fps:
            self._last_preview = now
            self._publish_preview(frame.image, result)

    def _clip_worker(self) -> None:
        """Encode queued clips and store their events; ends after the queue's stop marker."""
        while True:
            job = self._clip_jobs.get()
            if job is None:
                return
            self.analyzer.run_clip_job(job)

    def _publish_preview(self, image: np.ndarray, result: SceneResult) -> None:
        assert self.preview is not None
        annotated = preview_image(image, result.tracks, self.camera.scene, self.preview_cfg.max_width)
        label = f"{self.camera.name or self.camera.id} | {self.detector.info.get('kind')} | {self.detect_fps:.1f} fps"
        draw_banner(annotated, label)
        self.preview.publish(self.camera.id, encode_jpeg(annotated, self.preview_cfg.jpeg_quality))

    def _on_status(self, change: StatusChange) -> None:
        if change.status == "online":
            self.sink.emit(self.camera, "camera.online", "info", change.ts, {"reason": change.reason}, [])
        elif change.status in ("offline", "ended"):
            self.sink.emit(self.camera, "camera.offline", "warning", change.ts,
                           {"reason": change.reason, "ended": change.status == "ended"}, [])
            if self.preview is not None:
                self.preview.publish(self.camera.id, encode_jpeg(placeholder(f"{self.camera.id}: OFFLINE"), 70))
