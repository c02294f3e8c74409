"""The edge worker: every camera's pipeline, one shared detector session per model, the
outbox and its delivery loop, heartbeats and the preview server.

Example::

    site, problems = load_site(Path("site.yaml"), strict=False)
    worker = EdgeWorker(site, problems)
    worker.start()
    ...
    worker.stop()
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, Callable

from analytics.detectors import (Detector, MotionConfig, MotionGateConfig, YoloxConfig, build_detector, shared_detector,
                                 view_detector)
from analytics.scene import scene_regions
from analytics.exceptions import AnalyticsError
from edge.batching import DetectorService, SharedDetector
from edge.config import CameraConfig, SiteConfig, SiteProblems
from edge.delivery import Delivery
from edge.evidence.signal_feed import SignalFeeds
from edge.evidence.violations import FinishedViolation, ViolationEvidence
from edge.exceptions import OutboxError
from edge.heartbeat import Heartbeat
from edge.hub import HubClient
from edge.models import ensure_class_map
from edge.outbox import EvidenceFile, Outbox
from edge.pipeline import CameraPipeline
from contract import Event, Severity
from video import MjpegServer

log = logging.getLogger(__name__)


class EdgeWorker:
    """All of one site's cameras, from frames to delivered events.

    ``on_event`` (optional) is called with every `Event` after the outbox stored it
    (tests and the demo use it to watch the worker).

    Example::

        site, problems = load_site(Path("site.yaml"), strict=False)
        worker = EdgeWorker(site, problems, on_event=lambda e: print(e.type))
        worker.start()
        worker.heartbeat_body()["cameras"]   # [{"id": "cam-01", "status": "online", "fps": 5.0, ...}]
        worker.stop()
    """

    def __init__(self, site: SiteConfig, problems: SiteProblems | None = None,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.site = site
        self.problems = problems or SiteProblems()
        self.on_event = on_event
        site.edge.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(site.edge.data_dir / "outbox.sqlite", site.edge.id)
        self.hub = HubClient(site.hub.url, site.hub.token, site.hub.timeout_s)
        d = site.delivery
        self.violations = self._violations()
        self.signals = SignalFeeds(site.signals)
        self.heartbeat = Heartbeat(self.hub, [self._declaration(c) for c in site.cameras], self.heartbeat_body,
                                   interval_s=site.hub.heartbeat_s, backoff_max_s=d.backoff_max_s,
                                   public_key_b64=self.violations.key.public_key_b64 if self.violations else None)
        self.delivery = Delivery(self.outbox, self.hub, batch_size=d.batch_size, live_window_s=d.live_window_s,
                                 backoff_initial_s=d.backoff_initial_s, backoff_max_s=d.backoff_max_s,
                                 ready=self.heartbeat.declared)
        self.preview: MjpegServer | None = None
        self.preview_url: str | None = None
        self.services: dict[str, DetectorService] = {}
        self.pipelines: dict[str, CameraPipeline] = {}
        self.failed: dict[str, str] = {}  # camera id -> why it is not running
        self.emit_errors = 0
        self._emit_lock = threading.Lock()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Open the preview server, build detectors, start every camera, delivery and heartbeats."""
        for name, messages in self.problems.cameras.items():
            for message in messages:
                log.error("camera %s left out: %s", name, message)
        if not self.site.hub.token:
            log.error("hub.token is empty: the hub will refuse this edge (401); events wait in the outbox")
        if self.site.preview.enabled:
            cfg = self.site.preview
            self.preview = MjpegServer(cfg.host, cfg.port).start()
            self.preview_url = cfg.public_url or self.preview.url
        for camera in self.site.cameras:
            if not camera.enabled:
                continue
            try:
                detector = self._detector_for(camera)
            except (AnalyticsError, OSError, ValueError) as exc:
                reason = f"detector cannot start: {exc}"
                self.failed[camera.id] = reason
                log.error("camera %s not started: %s", camera.id, reason)
                self.emit(camera, "camera.offline", "warning", datetime.now().astimezone(), {"reason": reason}, [])
                continue
            self.pipelines[camera.id] = CameraPipeline(camera, detector, self, self.preview, self.site.preview,
                                                       self.violations)
        if self.violations is not None:
            self.violations.start(self._violation_done)
        # Signal states must be flowing before the first frame reaches a red-light rule.
        self.signals.start()
        for pipe in self.pipelines.values():
            pipe.start()
        self.delivery.start()
        self.heartbeat.start()
        self._started = True
        log.info("edge %s started: %d camera(s) running, %d failed, %d left out by config; preview %s",
                 self.site.edge.id, len(self.pipelines), len(self.failed), len(self.problems.cameras),
                 self.preview_url or "off")

    def stop(self) -> None:
        """Stop cameras first (their last events reach the outbox), then the rest."""
        for pipe in self.pipelines.values():
            pipe.stop()
        self.signals.stop()
        if self.violations is not None:
            self.violations.stop()  # finishes what is pending with the clip the rings hold
        self.heartbeat.stop()
        self.delivery.stop()
        for service in self.services.values():
            service.stop()
        if self.preview is not None:
            self.preview.stop()
        self.hub.close()
        self.outbox.close()
        self._started = False
        log.info("edge %s stopped", self.site.edge.id)

    def wait_cameras(self, timeout: float | None = None) -> bool:
        """Wait until every pipeline has ended (files that do not loop); True when all did."""
        for pipe in self.pipelines.values():
            pipe.join(timeout)
        return not any(p.alive for p in self.pipelines.values())

    # -- EventSink ---------------------------------------------------------------------

    def emit(self, camera: CameraConfig, type: str, severity: Severity, ts: datetime,
             payload: dict[str, Any], files: list[EvidenceFile], event_id: Any = None) -> Event | None:
        """Store one event (and its files) in the outbox; None (logged) when that fails."""
        try:
            event = self.outbox.add_event(camera=camera.id, unit=camera.unit, type=type, severity=severity,
                                          ts=ts, payload=payload, files=files, id=event_id)
        except OutboxError as exc:
            with self._emit_lock:
                self.emit_errors += 1
            log.error("event %s of %s NOT stored: %s", type, camera.id, exc)
            return None
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("on_event observer failed")
        return event

    # -- heartbeat -------------------------------------------------------------------------

    def heartbeat_body(self) -> dict[str, Any]:
        """The heartbeat as the hub's contract has it (``ts`` added when sent)."""
        cameras = []
        for camera in self.site.cameras:
            pipe = self.pipelines.get(camera.id)
            cameras.append({
                "id": camera.id,
                "status": pipe.status if pipe is not None else "offline",
                "fps": round(pipe.detect_fps, 2) if pipe else 0.0,
                "dropped": pipe.stats.missed if pipe else 0,
                "latency_ms": round(pipe.latency_ms, 1) if pipe else 0.0,
            })
        return {"detector": self.detector_info(), "preview_url": self.preview_url,
                "outbox_depth": self.outbox.depth(), "outbox_rejected": self.outbox.rejected_count(),
                "cameras": cameras}

    def detector_info(self) -> dict[str, Any]:
        """``{"kind": "yolox", "model": "yolox_nano.onnx"}`` when any camera runs a model, else motion."""
        for service in self.services.values():
            return dict(service.detector.info)
        return {"kind": "motion", "model": None}

    # -- internals ---------------------------------------------------------------------

    def _violations(self) -> ViolationEvidence | None:
        cfg = self.site.violations
        if not cfg.enabled:
            return None
        reader = None
        wants_plates = any("plate" in r.evidence for c in self.site.cameras for r in c.scene.rules)
        if cfg.plates is not None and wants_plates:
            from analytics.plates.reader import build_plate_reader  # loads OCR models: only when needed

            reader = build_plate_reader(cfg.plates)
        return ViolationEvidence(self.site.edge.data_dir, self.site.edge.id, cfg.evidence, plate_reader=reader)

    def _violation_done(self, done: FinishedViolation) -> None:
        camera_id = done.package.signed.manifest.camera
        camera = next((c for c in self.site.cameras if c.id == camera_id), None)
        if camera is None:  # cannot happen: only this worker's pipelines submit
            log.error("violation %s names unknown camera %s", done.event_id, camera_id)
            return
        files = [EvidenceFile(data, mime, kind) for data, mime, kind in done.blobs()]
        self.emit(camera, done.hit.type, done.hit.severity, done.ts, done.payload, files, event_id=done.event_id)

    def _detector_for(self, camera: CameraConfig) -> Detector:
        config = self.site.detector_for(camera)
        if isinstance(config, MotionConfig):
            # Background subtraction keeps a model of *this* view: one per camera, never shared.
            return build_detector(config)
        assert isinstance(config, YoloxConfig)
        if config.class_map is None:
            ensure_class_map(config.model)
        # Scene tiling and the gate keep per-view state: they wrap this camera's handle on
        # the shared session (`view_detector`) instead of sitting inside it.
        shared_cfg = config.model_copy(update={"gate": MotionGateConfig(enabled=False)})
        if config.tiling.enabled and config.tiling.mode == "scene":
            shared_cfg = shared_cfg.model_copy(update={"tiling": config.tiling.model_copy(update={"enabled": False})})
        key = shared_cfg.model_dump_json()
        service = self.services.get(key)
        if service is None:
            batching = self.site.batching
            service = DetectorService(shared_detector(shared_cfg), batching.max_batch, batching.max_wait_ms,
                                      batching.workers).start()
            self.services[key] = service
        return view_detector(SharedDetector(service), config, scene_regions(camera.scene))

    @staticmethod
    def _declaration(camera: CameraConfig) -> dict[str, Any]:
        # A disabled camera is declared as such: the wall shows it grey, not "signal lost".
        return {"id": camera.id, "name": camera.name or camera.id, "unit": camera.unit,
                "lat": camera.lat, "lon": camera.lon, "enabled": camera.enabled}
