"""Turn one violation into signed evidence: overview, plate close-up, clip, manifest.

Packaging happens in two steps because the clip must reach 5 s *after* the violation:
`prepare` renders the images at once (the frame is at hand now, not later) and
`finish` cuts the clip from the camera's frame ring once that time has passed, hashes
every file, stores it content-addressed and appends the signed manifest to the chain.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
from pydantic import Field

from edge.evidence.chain import ManifestChain, SignedManifest, utc_iso
from edge.evidence.exceptions import ClipUnavailable, PackagingError
from edge.evidence.render import VIOLATION_NAMES_VI, Caption, Overlay, render_closeup, render_overview
from contract import ConfigModel, EvidenceRef
from contract.evidence_verify import MIME_EXTENSIONS, sha256_hex
from video.clip import write_clip
from video.exceptions import VideoError
from video.snapshot import encode_jpeg

log = logging.getLogger(__name__)


class EvidenceConfig(ConfigModel):
    """How the edge packages violation evidence.

    Example::

        EvidenceConfig(clip_before_s=5, clip_after_s=5, jpeg_quality=90)
    """

    clip_before_s: float = Field(5.0, ge=0.0, le=30.0, description="clip starts this long before the violation")
    clip_after_s: float = Field(5.0, ge=0.0, le=30.0, description="clip ends this long after the violation")
    min_clip_frames: int = Field(2, ge=1, le=100, description="fewer frames than this in the ring: no clip")
    jpeg_quality: int = Field(90, ge=50, le=100, description="JPEG quality of the overview and close-up")
    overview_max_width: int = Field(1920, ge=320, le=4096, description="overview is scaled down to this width")
    closeup_min_width: int = Field(480, ge=64, le=2048, description="close-ups are enlarged to at least this width")
    font_path: str | None = Field(None, max_length=500, description="TTF font with Vietnamese glyphs; default DejaVu Sans")
    utc_offset_h: float = Field(7.0, ge=-12.0, le=14.0, description="local time zone of the burned-in time (Vietnam: +7)")


@dataclass(frozen=True)
class CameraInfo:
    """The camera as the evidence names it."""

    id: str
    name: str
    place: str
    unit: str


@dataclass
class PlateEvidence:
    """The plate reading to record; `text` None means unread (never guessed)."""

    text: str | None
    confidence: float = 0.0
    colour: str | None = None
    candidates: list[tuple[str, float]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None  # plate box in `frame` pixels


@dataclass
class EvidenceRequest:
    """Everything the packager needs about one violation, captured when it happened.

    `mono` is the `time.monotonic()` capture time of `frame` (the ring buffer's clock);
    `overlays` are the stop line, zone or lane the rule used; `plate_frame` is the frame
    where the plate reads best (default: `frame`).
    """

    event_id: uuid.UUID
    event_seq: int | None
    type: str
    ts: datetime
    mono: float
    camera: CameraInfo
    frame: np.ndarray
    box: tuple[float, float, float, float] | None = None
    overlays: list[Overlay] = field(default_factory=list)
    plate: PlateEvidence | None = None
    plate_frame: np.ndarray | None = None
    calibration_id: str | None = None
    measurements: dict[str, float | int | str | bool | None] = field(default_factory=dict)
    caption_lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EvidenceFile:
    """One stored evidence file."""

    sha256: str
    kind: str
    mime: str
    size: int
    path: Path

    def ref(self) -> EvidenceRef:
        return EvidenceRef(sha256=self.sha256, kind=self.kind, mime=self.mime)


@dataclass
class PendingEvidence:
    """Images rendered, clip not cut yet; `clip_due_mono` says when it can be."""

    request: EvidenceRequest
    blobs: list[tuple[str, str, bytes]]  # (kind, mime, data)
    clip_due_mono: float


@dataclass
class EvidencePackage:
    """The result: stored files and the signed manifest naming them.

    Example::

        package = packager.finish(pending, ring)
        event.evidence = package.evidence_refs()
        event.payload.update(package.event_payload())
    """

    signed: SignedManifest
    files: list[EvidenceFile]
    manifest_file: EvidenceFile

    def evidence_refs(self) -> list[EvidenceRef]:
        """Event evidence: every file plus the manifest itself (kind "manifest")."""
        return [f.ref() for f in self.files] + [self.manifest_file.ref()]

    def event_payload(self) -> dict[str, Any]:
        """What the event payload carries so the hub can check the manifest on arrival."""
        m = self.signed.manifest
        return {"evidence_manifest": {
            "sha256": self.signed.hash,
            "manifest_seq": m.manifest_seq,
            "signature": base64.b64encode(self.signed.signature).decode(),
            "key_id": m.key_id,
        }}


class ClipSource(Protocol):
    """What the packager needs from a camera's frame ring (`video.ring.FrameRing`)."""

    fps: float

    def window(self, start_mono: float, end_mono: float) -> Sequence[Any]: ...


class EvidencePackager:
    """Renders, hashes, stores and signs the evidence of violations for one edge.

    Example::

        packager = EvidencePackager(EvidenceConfig(), chain, data_dir / "evidence" / "files")
        pending = packager.prepare(request)          # at the moment of the violation
        ...                                          # 5 s later (pending.clip_due_mono)
        package = packager.finish(pending, ring)
    """

    def __init__(self, config: EvidenceConfig, chain: ManifestChain, store_dir: Path) -> None:
        self.config = config
        self.chain = chain
        self.store_dir = Path(store_dir)
        self.store_dir.mkdir(parents=True, exist_ok=True)

    # -- step 1: at the moment of the violation
    def prepare(self, request: EvidenceRequest) -> PendingEvidence:
        cfg = self.config
        title = VIOLATION_NAMES_VI.get(request.type, request.type)
        lines = list(request.caption_lines)
        if request.plate is not None:
            lines.insert(0, f"Biển số: {request.plate.text or 'chưa đọc được'}")
        caption = Caption(title=title, camera_name=request.camera.name, place=request.camera.place,
                          ts=request.ts, lines=lines, utc_offset_h=cfg.utc_offset_h)
        overview = render_overview(request.frame, request.box, request.overlays, caption,
                                   font_path=cfg.font_path, max_width=cfg.overview_max_width)
        blobs = [("overview", "image/jpeg", encode_jpeg(overview, cfg.jpeg_quality))]
        closeup = self._closeup(request)
        if closeup is not None:
            blobs.append(closeup)
        return PendingEvidence(request, blobs, request.mono + cfg.clip_after_s)

    def _closeup(self, request: EvidenceRequest) -> tuple[str, str, bytes] | None:
        plate = request.plate
        if plate is not None and plate.box is not None:
            frame = request.plate_frame if request.plate_frame is not None else request.frame
            label = f"Biển số: {plate.text or 'chưa đọc được'}" + (f" ({plate.confidence:.0%})" if plate.text else "")
            kind, box = "plate", plate.box
        elif request.box is not None:
            # No plate found: the vehicle itself, so the officer still sees it up close.
            frame, label, kind, box = request.frame, "Phương tiện vi phạm", "vehicle", request.box
        else:
            return None
        image = render_closeup(frame, box, label, font_path=self.config.font_path,
                               min_width=self.config.closeup_min_width)
        return kind, "image/jpeg", encode_jpeg(image, self.config.jpeg_quality)

    # -- step 2: once the ring holds the frames after the violation
    def finish(self, pending: PendingEvidence, ring: ClipSource | None) -> EvidencePackage:
        request = pending.request
        measurements = dict(request.measurements)
        blobs = list(pending.blobs)
        if ring is None:
            measurements["clip"] = "unavailable: no frame ring for this camera"
        else:
            try:
                clip, span = self._clip(request, ring)
                blobs.append(("clip", "video/mp4", clip))
                measurements["clip_from_s"], measurements["clip_to_s"] = span
            except ClipUnavailable as exc:
                # Images and manifest are still evidence; the manifest says why no clip.
                log.warning("event %s: no clip: %s", request.event_id, exc)
                measurements["clip"] = f"unavailable: {exc}"
        files = [self._store(kind, mime, data) for kind, mime, data in blobs]
        plate = request.plate
        fields: dict[str, Any] = {
            "event_id": str(request.event_id),
            "seq": request.event_seq,
            "camera": request.camera.id,
            "camera_name": request.camera.name,
            "place": request.camera.place,
            "unit": request.camera.unit,
            "type": request.type,
            "ts": utc_iso(request.ts),
            "plate": None if plate is None else {
                "text": plate.text,
                "confidence": round(float(plate.confidence), 4),
                "colour": plate.colour,
                "candidates": [{"text": t, "confidence": round(float(c), 4)} for t, c in plate.candidates[:10]],
            },
            "calibration_id": request.calibration_id,
            "measurements": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in measurements.items()},
            "files": [{"sha256": f.sha256, "kind": f.kind, "mime": f.mime, "size": f.size} for f in files],
        }
        try:
            signed = self.chain.append(fields)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise PackagingError(f"event {request.event_id}: manifest refused: {exc}") from exc
        manifest_file = self._store("manifest", "application/json", signed.data)
        return EvidencePackage(signed, files, manifest_file)

    def package(self, request: EvidenceRequest, ring: ClipSource | None) -> EvidencePackage:
        """Both steps at once, for when the ring already holds the frames after `request.mono`."""
        return self.finish(self.prepare(request), ring)

    def _clip(self, request: EvidenceRequest, ring: ClipSource) -> tuple[bytes, tuple[float, float]]:
        start, end = request.mono - self.config.clip_before_s, request.mono + self.config.clip_after_s
        frames = list(ring.window(start, end))
        if len(frames) < self.config.min_clip_frames:
            raise ClipUnavailable(f"the ring holds {len(frames)} frame(s) between -{self.config.clip_before_s:g}s "
                                  f"and +{self.config.clip_after_s:g}s")
        span = frames[-1].mono - frames[0].mono
        # Play at the rate the frames were really kept, so the clip lasts as long as the event did.
        fps = (len(frames) - 1) / span if span > 0 else ring.fps
        try:
            data = write_clip([f.jpeg for f in frames], fps=fps)
        except VideoError as exc:
            raise ClipUnavailable(f"clip encoding failed: {exc}") from exc
        return data, (round(frames[0].mono - request.mono, 3), round(frames[-1].mono - request.mono, 3))

    def _store(self, kind: str, mime: str, data: bytes) -> EvidenceFile:
        sha = sha256_hex(data)
        path = self.store_dir / f"{sha}{MIME_EXTENSIONS.get(mime, '')}"
        if not path.exists():  # content-addressed: same bytes, same file
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except OSError as exc:
                raise PackagingError(f"cannot store {kind} evidence {sha}: {exc}") from exc
        return EvidenceFile(sha256=sha, kind=kind, mime=mime, size=len(data), path=path)
