"""A violation's plate, read by the real RapidOCR plate reader, signed into the manifest.

Vietnamese plates are rendered with the plates package's generator and pasted into a real
highway frame where a vehicle box is (no real plate photographs are available offline).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.plates.reader import RapidOCRPlateReader
from analytics.plates.synth import make_sample
from analytics.rules.base import RuleHit
from analytics.scene import SceneConfig
from edge.evidence.packager import CameraInfo, EvidenceConfig
from edge.evidence.violations import ViolationEvidence
from contract.evidence_verify import verify_manifest
from video.frame import Frame
from tests.analytics.conftest import read_frame

CAMERA = CameraInfo(id="cam-hx-01", name="Ngã tư Hàng Xanh", place="Phường Bình Thạnh, TP.HCM", unit="26734")
SCENE = SceneConfig.model_validate({"lines": [{"name": "stop", "start": (0, 600), "end": (1280, 600)}]})


@pytest.fixture(scope="module")
def reader() -> RapidOCRPlateReader:
    return RapidOCRPlateReader()


@pytest.mark.parametrize("text, kind, colour", [
    ("51F-123.45", "car", "white"),
    ("59-X1 234.56", "motorbike", "white"),
    ("29C-456.78", "car", "yellow"),
])
def test_plate_is_read_and_signed(shared_data: Path, tmp_path: Path, reader, text: str, kind: str, colour: str,
                                  artifacts_dir: Path) -> None:
    frame = read_frame(shared_data / "highway_720p.mp4", 120).copy()
    sample = make_sample(frame, np.random.default_rng(3), kind=kind, colour=colour, plate_width=150, text=text,
                         blur=(0.3, 0.5), noise=(2.0, 3.0), jpeg=(85, 90))
    h, w = sample.image.shape[:2]
    x0, y0 = 600, 720 - h - 10
    frame[y0:y0 + h, x0:x0 + w] = sample.image  # the vehicle, plate and all, where the rule's box is
    hit = RuleHit(type="traffic.red_light", severity="warning", ts=datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc).timestamp(),
                  rule="red_light", payload={"line": "stop", "signal": "red", "signal_for_s": 2.0}, track_id=7,
                  box=(x0, y0, x0 + w, y0 + h), class_name="car" if kind == "car" else "motorbike",
                  evidence=["overview", "plate", "clip"])
    violations = ViolationEvidence(tmp_path, "edge-hcm-01", EvidenceConfig(), plate_reader=reader)
    assert violations.submit(hit, Frame.from_array(frame, ts=datetime.now(timezone.utc), mono=100.0), CAMERA, SCENE)
    [done] = violations.poll(0.0, None, force=True)

    m = done.package.signed.manifest
    assert m.plate is not None and m.plate.text == text and m.plate.confidence >= 0.5
    assert m.plate.candidates[0].text == text
    assert done.payload["plate"] == text and done.payload["plate_candidates"][0]["text"] == text
    kinds = [f.kind for f in done.package.files]
    assert kinds == ["overview", "plate"]  # no ring given: no clip, and the manifest says so
    assert m.measurements["clip"].startswith("unavailable")
    files = {f.sha256: f.path.read_bytes() for f in done.package.files}
    assert verify_manifest(done.package.signed.data, done.package.signed.signature,
                           violations.key.public_key, files=files).ok
    closeup = cv2.imread(str(done.package.files[1].path))
    cv2.imwrite(str(artifacts_dir / f"evidence_plate_{kind}_{colour}.png"), closeup)
    assert closeup.shape[1] >= 480  # enlarged for the officer


def test_no_plate_is_unread_never_guessed(shared_data: Path, tmp_path: Path, reader) -> None:
    frame = read_frame(shared_data / "highway_720p.mp4", 120)
    hit = RuleHit(type="traffic.red_light", severity="warning", ts=1_763_784_000.0, rule="red_light",
                  payload={"line": "stop", "signal": "red", "signal_for_s": 2.0}, track_id=8,
                  box=(560.0, 380.0, 760.0, 520.0), class_name="car", evidence=["overview", "plate", "clip"])
    violations = ViolationEvidence(tmp_path, "edge-hcm-01", EvidenceConfig(), plate_reader=reader)
    assert violations.submit(hit, Frame.from_array(frame, ts=datetime.now(timezone.utc), mono=1.0), CAMERA, SCENE)
    [done] = violations.poll(0.0, None, force=True)
    m = done.package.signed.manifest
    assert m.plate is not None and m.plate.text is None
    assert done.payload["plate"] is None
    assert done.package.files[1].kind in ("plate", "vehicle")  # the officer still gets a close-up
