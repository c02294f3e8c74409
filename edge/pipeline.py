"""One camera's pipeline: capture → (motion gate) → detect → track → rules → events.

The capture thread (`video.CameraStream`) feeds a latest-frame slot; this pipeline's
thread takes the newest frame each time a detection is due (``detect_fps``), so a slow
detector makes it skip frames, never lag. Stream status changes become
``camera.offline`` / ``camera.online`` events; rule hits become events with evidence
(annotated overview, close-up, clip from the ring buffer) written to the outbox before
anything else happens with them; traffic violations go to `edge.evidence`'s
`ViolationEvidence` for signed packages instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import numpy as np

from analytics.detectors import Detector
from analytics.rules.base import RuleHit
from analytics.scene import SceneAnalyzer, SceneResult
from edge.annotate import crop_box, draw_banner, draw_tracks, placeholder, preview_image
from edge.config import CameraConfig, PreviewConfig
from edge.evidence.packager import CameraInfo
from edge.evidence.violations import ViolationEvidence
from edge.outbox import EvidenceFile
from contract import Severity
from video import (CameraStream, CaptureOptions, ClipError, Frame, FrameRing, MjpegServer, StatusChange,
                   StreamOptions, encode_jpeg, write_clip)

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


class CameraPipeline:
    """Runs one camera from capture to events in three threads (capture, analysis, clips).

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
        self.violations = violations
        self._camera_info = CameraInfo(id=camera.id, name=camera.name or camera.id,
                                       place=camera.place or camera.name or camera.id, unit=camera.unit)
        self.detector = detector
        self.sink = sink
        self.preview = preview
        self.preview_cfg = preview_cfg or PreviewConfig()
        self.scene = SceneAnalyzer(camera.scene)
        ev = camera.evidence
        self.ring = FrameRing(seconds=ev.ring_s, fps=ev.ring_fps, jpeg_quality=ev.jpeg_quality, max_width=ev.max_width)
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
        self.stats = PipelineStats()
        self._latency: deque[float] = deque(maxlen=50)
        self._done: deque[float] = deque(maxlen=26)
        self._last_preview = 0.0
        self._last_clip: tuple[float, EvidenceFile] | None = None
        self._clip_jobs: queue.Queue[Any] = queue.Queue()
        self._clip_thread: threading.Thread | None = None
        self.last_result: SceneResult | None = None
        self._scene_ts: float | None = None

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
        interval = 1.0 / self.camera.detect_fps
        next_due = 0.0
        while not self._stop.is_set():
            frame = self._slot.get(timeout=0.5)
            if frame is None:
                if self._slot.closed:
                    break  # the stream ended (a file) or stopped
                continue
            if frame.mono < next_due:
                continue  # not due yet: this camera runs at detect_fps, not at the source rate
            behind = frame.mono - next_due if next_due else 0.0
            # A gap of seconds is the source's (a reconnect), not slots this pipeline missed.
            if interval < behind <= max(2.0, 4 * interval):
                self.stats.missed += int(behind / interval)
            next_due = max(next_due + interval, frame.mono - interval / 2)
            try:
                self._analyse(frame)
            except Exception as exc:  # log and go on with the next frame: a bad frame must not end the camera
                self.stats.errors += 1
                if str(exc) != self.stats.last_error:
                    log.exception("camera %s: analysis failed", self.camera.id)
                self.stats.last_error = str(exc)
        for hit in self.scene.flush():
            self._emit_hit(hit, None)

    def _analyse(self, frame: Frame) -> None:
        image = frame.image
        detections = self.detector.detect(image)
        # The scene works in UTC epoch seconds (rule schedules are wall-clock times); a clock
        # stepped back by NTP must not make time run backwards for the tracker.
        ts = frame.ts.timestamp()
        if self._scene_ts is not None and ts <= self._scene_ts:
            ts = self._scene_ts + 1e-3
        self._scene_ts = ts
        result = self.scene.process(image, ts, detections)
        self.last_result = result
        self.stats.processed += 1
        for hit in result.hits:
            self._emit_hit(hit, frame)
        now = time.monotonic()
        self._latency.append((now - frame.mono) * 1000)
        self._done.append(now)
        if self.preview is not None and now - self._last_preview >= 1.0 / self.preview_cfg.fps:
            self._last_preview = now
            self._publish_preview(image, result)

    def _emit_hit(self, hit: RuleHit, frame: Frame | None) -> None:
        # Violations get signed evidence packages, finished (clip included) a few seconds
        # later by the worker's ViolationEvidence thread, which then writes the event.
        if (frame is not None and self.violations is not None
                and self.violations.submit(hit, frame, self._camera_info, self.camera.scene, ring=self.ring)):
            self.stats.events += 1
            return
        ts = datetime.fromtimestamp(hit.ts, timezone.utc)
        files = self._images(hit, frame) if frame is not None else []
        self.stats.events += 1
        if frame is not None and "clip" in hit.evidence and self.camera.evidence.clip:
            # Encoding a clip takes 0.5 s of CPU and more on a busy box: the clip thread
            # does it and then stores the event, so this camera's analysis never stalls.
            window = self.ring.window(frame.mono - self.camera.evidence.clip_before_s, frame.mono + 0.01)
            self._clip_jobs.put((hit, ts, files, frame.mono, [f.jpeg for f in window]))
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

    def _clip_worker(self) -> None:
        """Encode queued clips and store their events; ends after the queue's stop marker."""
        while True:
            job = self._clip_jobs.get()
            if job is None:
                return
            hit, ts, files, mono, jpegs = job
            try:
                clip = self._clip(mono, jpegs)
                self.sink.emit(self.camera, hit.type, hit.severity, ts, hit.event_payload(),
                               files + ([clip] if clip is not None else []))
            except Exception:  # the event must still be stored, even if its clip failed
                log.exception("camera %s: clip job failed", self.camera.id)
                self.sink.emit(self.camera, hit.type, hit.severity, ts, hit.event_payload(), files)

    def _clip(self, mono: float, jpegs: list[bytes]) -> EvidenceFile | None:
        # Several hits in one moment (a wrong-way bus seen by two rules) share one clip.
        if self._last_clip is not None and abs(self._last_clip[0] - mono) < 1.0:
            return self._last_clip[1]
        if len(jpegs) < 2:
            return None
        try:
            data = write_clip(jpegs, fps=self.ring.fps)
        except ClipError as exc:
            log.warning("camera %s: no clip: %s", self.camera.id, exc)
            return None
        clip = EvidenceFile(data, "video/mp4", "clip")
        self._last_clip = (mono, clip)
        return clip

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
