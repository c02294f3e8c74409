"""Packaging a violation from the real highway video: images, clip, signed manifest."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edge.evidence.chain import ManifestChain
from edge.evidence.keys import EdgeSigningKey
from edge.evidence.packager import CameraInfo, EvidenceConfig, EvidencePackager, EvidenceRequest, PlateEvidence
from edge.evidence.render import Overlay
from contract.evidence_verify import verify_manifest
from video.frame import Frame
from video.ring import FrameRing

EVENT_FRAME = 200
T0 = datetime(2026, 11, 22, 3, 14, 15, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def highway_ring(shared_data: Path) -> tuple[FrameRing, np.ndarray]:
    """The highway video fed through a real FrameRing at 5 fps; the frame of the 'violation'."""
    ring = FrameRing(seconds=15, fps=5, jpeg_quality=80)
    cap = cv2.VideoCapture(str(shared_data / "highway_720p.mp4"))
    event = None
    index = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        ring.add(Frame.from_array(image, ts=T0 + timedelta(seconds=index / 30), mono=index / 30, index=index))
        if index == EVENT_FRAME:
            event = image.copy()
        index += 1
    cap.release()
    assert event is not None
    return ring, event


def _request(frame: np.ndarray, plate: PlateEvidence | None) -> EvidenceRequest:
    return EvidenceRequest(
        event_id=uuid.uuid4(), event_seq=41, type="traffic.speeding",
        ts=T0 + timedelta(seconds=EVENT_FRAME / 30), mono=EVENT_FRAME / 30,
        camera=CameraInfo(id="cam-cao-toc-01", name="Cao tốc km 12", place="Xã Phước Lý, Đồng Nai", unit="26734"),
        frame=frame, box=(600.0, 380.0, 700.0, 460.0),
        overlays=[Overlay(points=((300, 400), (1000, 400)), label="vạch đo 1"),
                  Overlay(points=((500, 300), (800, 300), (900, 600), (400, 600)), closed=True, label="đoạn đo")],
        plate=plate, calibration_id="calib-2026-11-01",
        measurements={"speed_kmh": 97.3, "limit_kmh": 80},
        caption_lines=["Tốc độ: 97 km/h (giới hạn 80)"],
    )


@pytest.mark.parametrize(
    "plate, closeup_kind",
    [
        (PlateEvidence(text="51F-123.45", confidence=0.93, colour="white",
                       candidates=[("51F-123.45", 0.93), ("51F-128.45", 0.41)], box=(630, 430, 670, 445)), "plate"),
        (None, "vehicle"),
    ],
)
def test_package_from_real_video(tmp_path: Path, highway_ring, artifacts_dir: Path, plate, closeup_kind) -> None:
    ring, frame = highway_ring
    key = EdgeSigningKey.load_or_create(tmp_path)
    packager = EvidencePackager(EvidenceConfig(), ManifestChain(tmp_path, key, "edge-dn-01"), tmp_path / "files")
    pending = packager.prepare(_request(frame, plate))
    assert pending.clip_due_mono == pytest.approx(EVENT_FRAME / 30 + 5)
    package = packager.finish(pending, ring)

    kinds = [f.kind for f in package.files]
    assert kinds == ["overview", closeup_kind, "clip"]
    overview = cv2.imread(str(package.files[0].path))
    assert overview.shape[1] == 1280 and overview.shape[0] > 720  # caption band above the scene
    cv2.imwrite(str(artifacts_dir / f"evidence_overview_{closeup_kind}.jpg"), overview)
    # The clip spans 5 s each side at the ring's 5 fps.
    with av.open(str(package.files[2].path)) as container:
        n_frames = sum(1 for _ in container.decode(video=0))
    assert 45 <= n_frames <= 51
    m = package.signed.manifest
    assert m.measurements["clip_from_s"] == pytest.approx(-5, abs=0.25)
    assert m.measurements["clip_to_s"] == pytest.approx(5, abs=0.25)
    assert m.calibration_id == "calib-2026-11-01" and m.ts == "2026-11-22T03:14:21.666Z"
    assert (m.plate is None) == (plate is None)

    files = {f.sha256: f.path.read_bytes() for f in package.files}
    report = verify_manifest(package.signed.data, package.signed.signature, key.public_key, files=files)
    assert report.ok, report.problems
    refs = package.evidence_refs()
    assert refs[-1].kind == "manifest" and refs[-1].sha256 == package.signed.hash
    assert package.manifest_file.path.read_bytes() == package.signed.data


def test_overview_burns_in_vietnamese_text(tmp_path: Path, highway_ring) -> None:
    """The caption band holds drawn text (not blank) and the scene below is unchanged."""
    ring, frame = highway_ring
    packager = EvidencePackager(EvidenceConfig(), ManifestChain(tmp_path, EdgeSigningKey.load_or_create(tmp_path), "e"),
                                tmp_path / "files")
    request = _request(frame, None)
    request.overlays, request.box = [], None
    pending = packager.prepare(request)
    overview = cv2.imdecode(np.frombuffer(pending.blobs[0][2], np.uint8), cv2.IMREAD_COLOR)
    band_h = overview.shape[0] - frame.shape[0]
    band = overview[:band_h]
    assert 40 < band_h < 200
    assert (band > 128).mean() > 0.01  # white/red text pixels on the dark band
    scene = overview[band_h:].astype(np.int16)
    assert np.abs(scene - frame.astype(np.int16)).mean() < 4  # only JPEG loss


def test_no_clip_when_ring_is_empty(tmp_path: Path, highway_ring) -> None:
    _, frame = highway_ring
    packager = EvidencePackager(EvidenceConfig(), ManifestChain(tmp_path, EdgeSigningKey.load_or_create(tmp_path), "e"),
                                tmp_path / "files")
    package = packager.package(_request(frame, None), FrameRing(seconds=5, fps=5))
    assert [f.kind for f in package.files] == ["overview", "vehicle"]
    assert package.signed.manifest.measurements["clip"].startswith("unavailable")
