"""Glue between a camera pipeline and the packager: violation hits in, signed evidence out.

A camera pipeline hands every rule hit to `ViolationEvidence.submit`; violation hits
(``traffic.*`` with ``clip`` or ``plate`` among their evidence wishes) are held until
the frame ring has recorded `clip_after_s` more seconds, then `poll` finishes them:
plate reading, overview with the rule's geometry, plate close-up, clip, signed manifest. Everything
else is not a violation and is left to the pipeline's ordinary evidence.

Example (inside the pipeline's analysis loop)::

    violations = ViolationEvidence(data_dir, edge_id, EvidenceConfig(), plate_reader=reader)
    for hit in result.hits:
        if not violations.submit(hit, frame, camera_info, scene_config):
            emit_ordinary(hit)
    for done in violations.poll(frame.mono, ring):
        outbox.add_event(id=done.event_id, camera=..., type=done.hit.type, ts=done.ts,
                         payload=done.payload, files=[EvidenceFile(d, m, k) for d, m, k in done.blobs()])
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from analytics.rules.base import RuleHit
from analytics.scene import SceneConfig
from edge.evidence.chain import ManifestChain
from edge.evidence.exceptions import EvidenceError
from edge.evidence.keys import EdgeSigningKey
from edge.evidence.packager import (
    CameraInfo,
    ClipSource,
    EvidenceConfig,
    EvidencePackage,
    EvidencePackager,
    EvidenceRequest,
    PendingEvidence,
    PlateEvidence,
)
from edge.evidence.render import CYAN, RED, YELLOW, Overlay
from contract import new_event_id

log = logging.getLogger(__name__)

RETRIES = 3
RETRY_DELAY_S = 5.0
PLATE_FRAMES = 5
"""Frames a violation's plate is read in: the violation's own and the ring's nearest to it."""
PLATE_WINDOW_S = 1.0
"""Ring frames at most this far from the violation frame are read (the vehicle is still near its box)."""
PLATE_BOX_GROW = 0.15
"""A ring frame's crop is the violation's vehicle box grown by this much on every side: the vehicle moved."""


class FrameLike(Protocol):
    """What is needed of a `video.Frame`."""

    ts: datetime
    mono: float

    @property
    def image(self) -> np.ndarray: ...


class PlateReaderLike(Protocol):
    """`analytics.plates.PlateReader`: ``read(crop) -> PlateReading``."""

    def read(self, crop: np.ndarray) -> Any: ...


def is_violation(hit: RuleHit) -> bool:
    """A hit that gets signed evidence: a traffic rule that wishes for a clip or a plate."""
    return hit.type.startswith("traffic.") and bool({"clip", "plate"} & set(hit.evidence))


def overlays_for(hit: RuleHit, scene: SceneConfig) -> list[Overlay]:
    """The scene geometry a hit's payload names (line, lines, zone, lane), to draw on the overview."""
    names = {hit.payload.get(k) for k in ("line", "zone", "lane")} | set(hit.payload.get("lines") or [])
    out: list[Overlay] = []
    for line in scene.lines:
        if line.name in names:
            colour = RED if hit.type == "traffic.red_light" else YELLOW
            out.append(Overlay(points=(tuple(line.start), tuple(line.end)), label=line.name, colour=colour))
    for zone in scene.zones:
        if zone.name in names:
            out.append(Overlay(points=tuple(map(tuple, zone.polygon)), closed=True, label=zone.name, colour=CYAN))
    for lane in scene.lanes:
        if lane.name in names:
            out.append(Overlay(points=tuple(map(tuple, lane.polygon)), closed=True, label=lane.name, colour=CYAN))
    roi = hit.payload.get("signal_roi")
    if isinstance(roi, list) and len(roi) == 4:  # the signal head the red-light rule read
        x1, y1, x2, y2 = (float(v) for v in roi)
        out.append(Overlay(points=((x1, y1), (x2, y1), (x2, y2), (x1, y2)), closed=True,
                           label="đèn tín hiệu", colour=RED))
    return out


def caption_lines(hit: RuleHit) -> list[str]:
    """Figures burned into the overview, in Vietnamese."""
    p = hit.payload
    lines = []
    if "speed_kmh" in p:
        lines.append(f"Tốc độ: {p['speed_kmh']:.0f} km/h (giới hạn {p['limit_kmh']:g} km/h)")
    if "signal" in p:
        state = {"red": "đỏ", "amber": "vàng"}.get(p["signal"], p["signal"])
        lines.append(f"Đèn {state} {p.get('signal_for_s', 0):.1f} s")
    if "stationary_s" in p:
        lines.append(f"Dừng {p['stationary_s']:.0f} s (cho phép {p.get('limit_s', 0):g} s)")
    if hit.class_name:
        lines.append(f"Loại xe: {hit.class_name}")
    return lines


def _measurements(hit: RuleHit) -> dict[str, float | int | str | bool | None]:
    keep = (float, int, str, bool, type(None))
    return {k: v for k, v in hit.payload.items() if isinstance(v, keep) and not k.startswith("_")}


def read_plate(reader: PlateReaderLike, image: np.ndarray, box: tuple[float, float, float, float]) -> PlateEvidence:
    """Read the plate inside the vehicle box; the plate box is mapped back to frame pixels."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return PlateEvidence(text=None)
    reading = reader.read(image[y1:y2, x1:x2])
    plate_box = None
    quad = getattr(reading, "quad", None)
    if quad is not None:
        q = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        plate_box = (x1 + q[:, 0].min(), y1 + q[:, 1].min(), x1 + q[:, 0].max(), y1 + q[:, 1].max())
    return PlateEvidence(
        text=reading.text, confidence=float(reading.confidence), colour=getattr(reading, "colour", None),
        candidates=[(c.text, float(c.confidence)) for c in getattr(reading, "candidates", [])],
        box=plate_box,
    )


def _ring_images(ring: ClipSource, mono: float, frame_width: int, n: int) -> list[tuple[np.ndarray, float]]:
    """Up to ``n`` ring frames nearest to ``mono`` (within `PLATE_WINDOW_S`), decoded, each with its
    scale against the violation frame (the ring may store frames narrower)."""
    import cv2

    near = sorted(ring.window(mono - PLATE_WINDOW_S, mono + PLATE_WINDOW_S), key=lambda f: abs(getattr(f, "mono", mono) - mono))
    out = []
    for f in near:
        jpeg = getattr(f, "jpeg", None)
        if jpeg is None or abs(f.mono - mono) < 1e-6:  # the violation frame itself is read at full resolution
            continue
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is not None:
            out.append((img, img.shape[1] / float(frame_width)))
        if len(out) >= n:
            break
    return out


def read_plate_track(reader: PlateReaderLike, images: Sequence[np.ndarray], boxes: Sequence[tuple[float, float, float, float]],
                     class_name: str | None = None, min_confidence: float | None = None) -> tuple[PlateEvidence, int, int, int]:
    """Read the plate in several frames of one vehicle (``boxes[i]`` in ``images[i]``) and combine them
    per character (`analytics.plates.reader.combine_readings`). With the detector's ``class_name``
    only the box's plate region is read (`analytics.plates.reader.plate_region`).

    Returns the evidence (its ``box`` in the pixels of the best frame), the index of that frame, the
    number of frames read and how many of them read the plate on their own.
    """
    from analytics.plates.reader import combine_readings, plate_region

    if min_confidence is None:
        min_confidence = getattr(getattr(reader, "config", None), "min_confidence", 0.5)
    readings, offsets = [], []
    for index, (image, box) in enumerate(zip(images, boxes)):
        x1, y1, x2, y2 = plate_region(box, class_name, image.shape)
        if x2 - x1 < 8 or y2 - y1 < 8:
            continue
        readings.append(reader.read(image[y1:y2, x1:x2]))
        offsets.append((x1, y1, index))
    if not readings:
        return PlateEvidence(text=None), 0, 0, 0
    combined = combine_readings(readings, min_confidence=min_confidence)
    x1, y1, frame_index = offsets[combined.best_frame]
    plate_box = None
    if combined.quad is not None:
        q = np.asarray(combined.quad, dtype=np.float64).reshape(-1, 2)
        plate_box = (x1 + q[:, 0].min(), y1 + q[:, 1].min(), x1 + q[:, 0].max(), y1 + q[:, 1].max())
    evidence = PlateEvidence(text=combined.text, confidence=float(combined.confidence), colour=combined.colour,
                             candidates=[(c.text, float(c.confidence)) for c in combined.candidates], box=plate_box)
    return evidence, frame_index, combined.frames, combined.agreed


@dataclass
class FinishedViolation:
    """A violation whose evidence is complete: what the pipeline turns into one event."""

    event_id: uuid.UUID
    hit: RuleHit
    ts: datetime
    package: EvidencePackage
    payload: dict[str, Any] = field(default_factory=dict)

    def blobs(self) -> list[tuple[bytes, str, str]]:
        """(data, mime, kind) of every file, manifest included, for the outbox."""
        files = self.package.files + [self.package.manifest_file]
        return [(f.path.read_bytes(), f.mime, f.kind) for f in files]


@dataclass
class _Waiting:
    """A submitted violation: its request (frame kept by reference), where its clip comes from."""

    request: EvidenceRequest
    hit: RuleHit
    camera_id: str
    ring: ClipSource | None
    due_mono: float
    read_plate: bool
    prepared: PendingEvidence | None = None
    attempts: int = 0
    plate_frames: tuple[int, int] | None = None  # (frames read, frames that agreed)


class ViolationEvidence:
    """Holds violation hits until their clip can be cut, then reads the plate, renders,
    packages and signs them. `submit` only captures (microseconds, on the analysis
    thread); the plate reading, rendering and clip encoding happen in `poll`, which the
    background worker (`start`) calls.

    Thread-safe: cameras of one edge share one instance, so one key and one chain.
    """

    def __init__(self, data_dir: Path, edge_id: str, config: EvidenceConfig | None = None,
                 plate_reader: PlateReaderLike | None = None) -> None:
        self.config = config or EvidenceConfig()
        self.key = EdgeSigningKey.load_or_create(Path(data_dir))
        self.chain = ManifestChain(Path(data_dir), self.key, edge_id)
        self.packager = EvidencePackager(self.config, self.chain, Path(data_dir) / "evidence" / "files")
        self.plate_reader = plate_reader
        self._waiting: list[_Waiting] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_done: Callable[[FinishedViolation], None] | None = None

    def submit(self, hit: RuleHit, frame: FrameLike, camera: CameraInfo, scene: SceneConfig,
               calibration_id: str | None = None, ring: ClipSource | None = None) -> bool:
        """Capture a violation hit for evidence; False when the hit is no violation.

        ``ring`` is the camera's frame ring; give it here when a background worker
        (`start`) finishes the evidence, or pass rings to `poll` instead. The frame's
        pixels are kept by reference (frames are never modified in place).
        """
        if not is_violation(hit):
            return False
        ts = datetime.fromtimestamp(hit.ts, timezone.utc) if hit.ts > 1e9 else frame.ts
        request = EvidenceRequest(
            event_id=new_event_id(), event_seq=None, type=hit.type, ts=ts, mono=frame.mono, camera=camera,
            frame=frame.image, box=hit.box, overlays=overlays_for(hit, scene),
            calibration_id=calibration_id or hit.payload.get("calibration_id"),
            measurements=_measurements(hit), caption_lines=caption_lines(hit),
        )
        wants_plate = "plate" in hit.evidence and hit.box is not None and self.plate_reader is not None
        item = _Waiting(request, hit, camera.id, ring, frame.mono + self.config.clip_after_s, wants_plate)
        with self._lock:
            self._waiting.append(item)
        return True

    def _prepare(self, item: _Waiting, ring: ClipSource | None = None) -> PendingEvidence:
        if item.prepared is None:
            request = item.request
            if item.read_plate:
                try:
                    self._read_plate(item, ring)
                except Exception:  # a reader failure must not lose the violation: it goes on unread
                    log.exception("plate reading failed for %s on %s", request.type, item.camera_id)
                    request.plate = PlateEvidence(text=None)
            item.prepared = self.packager.prepare(request)
        return item.prepared

    def _read_plate(self, item: _Waiting, ring: ClipSource | None) -> None:
        """The plate read per track: the violation frame and the ring's nearest frames, combined; the
        frame where it reads best becomes the evidence's plate frame."""
        request = item.request
        box = request.box
        assert box is not None and self.plate_reader is not None
        others = _ring_images(ring, request.mono, request.frame.shape[1], PLATE_FRAMES - 1) if ring is not None else []
        if not others:
            request.plate = read_plate(self.plate_reader, request.frame, box)
            item.plate_frames = (1, 1 if request.plate.text else 0)
            return
        images, boxes = [request.frame], [box]
        bw, bh = box[2] - box[0], box[3] - box[1]
        for img, scale in others:
            g = PLATE_BOX_GROW
            images.append(img)
            boxes.append(((box[0] - g * bw) * scale, (box[1] - g * bh) * scale,
                          (box[2] + g * bw) * scale, (box[3] + g * bh) * scale))
        request.plate, best, read, agreed = read_plate_track(self.plate_reader, images, boxes, item.hit.class_name)
        if best:
            request.plate_frame = images[best]
        item.plate_frames = (read, agreed)

    def poll(self, now_mono: float, rings: ClipSource | dict[str, ClipSource] | None = None,
             *, force: bool = False) -> list[FinishedViolation]:
        """Finish every violation whose clip time has passed (all of them with ``force``).

        ``rings`` is one frame ring, or rings by camera id (one edge, several cameras),
        for violations submitted without their ring.
        """
        with self._lock:
            due = [w for w in self._waiting if force or w.due_mono <= now_mono]
            self._waiting = [w for w in self._waiting if not (force or w.due_mono <= now_mono)]
        done = []
        for item in due:
            hit = item.hit
            ring = item.ring if item.ring is not None else rings.get(item.camera_id) if isinstance(rings, dict) else rings
            try:
                package = self.packager.finish(self._prepare(item, ring), ring)
            except EvidenceError as exc:
                # A full or failing disk: keep the violation (images are in memory) and try again.
                item.attempts += 1
                if item.attempts < RETRIES and not force:
                    log.warning("evidence of %s on %s failed (%s); retrying in %.0f s",
                                hit.type, item.camera_id, exc, RETRY_DELAY_S)
                    item.due_mono = now_mono + RETRY_DELAY_S
                    with self._lock:
                        self._waiting.append(item)
                else:
                    log.error("evidence of %s on %s NOT packaged after %d attempts: %s",
                              hit.type, item.camera_id, item.attempts, exc)
                continue
            payload = hit.event_payload()
            plate = item.request.plate
            if plate is not None:
                payload.update({"plate": plate.text, "plate_confidence": round(plate.confidence, 3),
                                "plate_candidates": [{"text": t, "confidence": round(c, 3)} for t, c in plate.candidates],
                                "plate_colour": plate.colour})
                if item.plate_frames is not None:
                    payload.update({"plate_frames": item.plate_frames[0], "plate_frames_agreed": item.plate_frames[1]})
            payload.update(package.event_payload())
            done.append(FinishedViolation(item.request.event_id, hit, item.request.ts, package, payload))
        return done

    @property
    def pending(self) -> int:
        """Violations waiting for their clip (or for a retry)."""
        with self._lock:
            return len(self._waiting)

    # -- background mode: clip encoding (seconds on a busy box) off the analysis thread

    def start(self, on_done: Callable[[FinishedViolation], None], interval_s: float = 0.25) -> None:
        """Finish due violations in a worker thread and hand each to ``on_done`` (e.g. the outbox).

        Frame times (``frame.mono``) must be ``time.monotonic()`` values, as live sources give.
        """
        if self._thread is not None:
            raise RuntimeError("ViolationEvidence worker already started")
        self._on_done = on_done
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, args=(interval_s,), name="violation-evidence", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker; violations still waiting are finished with the clip the ring has."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._on_done is not None:
            self._deliver(self.poll(time.monotonic(), force=True))

    def _work(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self._deliver(self.poll(time.monotonic()))
            except Exception:  # keep the worker alive: the next violation must still be packaged
                log.exception("violation evidence worker: poll failed")

    def _deliver(self, items: list[FinishedViolation]) -> None:
        for item in items:
            try:
                self._on_done(item)  # type: ignore[misc]
            except Exception:
                log.exception("violation %s: on_done failed", item.event_id)
