"""From real video to signed evidence: highway frames → YOLOX → scene with a violation rule →
ViolationEvidence (overview with the lane, plate reading, clip ±5 s from the frame ring,
signed chained manifest) → the shared verifier."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import cv2
import pytest

from analytics.detectors.config import YoloxConfig
from analytics.detectors.yolox import YoloxDetector
from analytics.plates.reader import RapidOCRPlateReader
from analytics.scene import SceneAnalyzer, SceneConfig
from edge.evidence.packager import CameraInfo, EvidenceConfig
from edge.evidence.violations import ViolationEvidence, caption_lines, is_violation, overlays_for
from contract.evidence_verify import verify_chain, verify_manifest
from video.frame import Frame
from video.ring import FrameRing

T0 = datetime(2026, 11, 22, 1, 0, 0, tzinfo=timezone.utc)
CAMERA = CameraInfo(id="cam-ql1a-km12", name="QL1A km 12", place="Xã Trảng Bom, Đồng Nai", unit="75")
# The right carriageway declared as driving towards the camera: its real traffic is wrong-way.
SCENE = {
    "lanes": [{"name": "right_cw", "polygon": [(690, 140), (800, 140), (1280, 360), (1280, 720), (970, 720)],
               "direction": (0, 1)}],
    "rules": [{"type": "wrong_way_violation", "lanes": ["right_cw"]}],
}


@pytest.fixture(scope="module")
def packaged(shared_data: Path, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("edge")
    detector = YoloxDetector(YoloxConfig(model=shared_data / "yolox_nano.onnx", intra_op_threads=1))
    scene_cfg = SceneConfig.model_validate(SCENE)
    scene = SceneAnalyzer(scene_cfg)
    ring = FrameRing(seconds=12, fps=5)
    violations = ViolationEvidence(data_dir, "edge-dn-01", EvidenceConfig(), plate_reader=RapidOCRPlateReader())
    cap = cv2.VideoCapture(str(shared_data / "highway_720p.mp4"))
    done, hits, index = [], [], 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frame = Frame.from_array(image, ts=T0 + timedelta(seconds=index / 30), mono=index / 30, index=index)
        ring.add(frame)
        if index % 3 == 0:
            result = scene.process(image, frame.ts.timestamp(), detector.detect(image))
            for hit in result.hits:
                hits.append(hit)
                if len(hits) <= 2:  # two packages are enough; keeps the plate reader's time down
                    assert violations.submit(hit, frame, CAMERA, scene_cfg)
        done += violations.poll(frame.mono, ring)
        index += 1
    cap.release()
    done += violations.poll(index / 30, ring, force=True)
    return violations, hits, done


def test_violations_from_real_video_are_packaged_and_verify(packaged, artifacts_dir: Path) -> None:
    violations, hits, done = packaged
    assert len(hits) >= 3 and len(done) == 2 and violations.pending == 0
    for item in done:
        m = item.package.signed.manifest
        assert m.type == "traffic.wrong_way" and m.camera == CAMERA.id and m.place == CAMERA.place
        assert [f.kind for f in m.files][0] == "overview" and "clip" in [f.kind for f in m.files]
        assert m.measurements["lane"] == "right_cw" and m.measurements["violation"] is True
        # US plates at 720p are not Vietnamese plates: unread, never guessed.
        assert m.plate is not None and m.plate.text is None
        assert item.payload["evidence_manifest"]["sha256"] == item.package.signed.hash
        assert item.payload["track"] == item.hit.track_id and item.payload["plate"] is None
        files = {f.sha256: f.path.read_bytes() for f in item.package.files}
        report = verify_manifest(item.package.signed.data, item.package.signed.signature,
                                 violations.key.public_key, files=files)
        assert report.ok, report.problems
        blobs = item.blobs()
        assert blobs[-1][1:] == ("application/json", "manifest")
    # the whole local chain verifies, in order
    assert violations.chain.verify().ok
    entries = [(d.package.signed.data, d.package.signed.signature) for d in done]
    assert verify_chain(entries, violations.key.public_key).ok
    for item in done:  # 5 s after; 5 s before, or as much as the video had before the violation
        m = item.package.signed.manifest.measurements
        event_s = (item.ts - T0).total_seconds()
        assert m["clip_to_s"] == pytest.approx(5.0, abs=0.25)
        assert m["clip_from_s"] == pytest.approx(-min(5.0, event_s), abs=0.25)
        clip = next(f for f in item.package.files if f.kind == "clip")
        with av.open(str(clip.path)) as container:
            seconds = float(container.duration) / 1e6
        assert seconds == pytest.approx(m["clip_to_s"] - m["clip_from_s"], abs=0.4)
    overview = next(f for f in done[0].package.files if f.kind == "overview")
    cv2.imwrite(str(artifacts_dir / "evidence_wrong_way_overview.jpg"), cv2.imread(str(overview.path)))


def test_non_violation_hits_are_left_to_the_pipeline(packaged) -> None:
    _, hits, _ = packaged
    hit = hits[0]
    assert is_violation(hit)
    hit_info = type(hit)(type="security.intrusion", severity="warning", ts=1.0, rule="x", evidence=["overview"])
    assert not is_violation(hit_info)
    assert [o.label for o in overlays_for(hit, SceneConfig.model_validate(SCENE))] == ["right_cw"]
    assert caption_lines(hit)[-1].startswith("Loại xe:")


def test_background_worker_finishes_due_violations_and_flushes_at_stop(packaged, tmp_path: Path, shared_data: Path) -> None:
    """Live mode: frame times are time.monotonic(); the worker thread cuts the clip when due."""
    _, hits, _ = packaged
    cap = cv2.VideoCapture(str(shared_data / "highway_720p.mp4"))
    images = [cap.read()[1] for _ in range(60)]
    cap.release()
    ring = FrameRing(seconds=12, fps=5)
    now = time.monotonic()
    for i, image in enumerate(images):  # two seconds of video ending now
        ring.add(Frame.from_array(image, ts=T0 + timedelta(seconds=i / 30), mono=now - 2 + i / 30, index=i))
    scene_cfg = SceneConfig.model_validate(SCENE)
    violations = ViolationEvidence(tmp_path, "edge-live", EvidenceConfig(clip_after_s=0.0))
    received = []
    violations.start(received.append, interval_s=0.05)
    try:
        due_frame = Frame.from_array(images[-1], ts=T0, mono=now - 0.5, index=59)
        assert violations.submit(hits[0], due_frame, CAMERA, scene_cfg, ring=ring)
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(received) == 1 and violations.pending == 0
    finally:
        violations.stop()
    # one more, due only in 30 s: stop() flushes it with the clip the ring has (same chain)
    slow = ViolationEvidence(tmp_path, "edge-live", EvidenceConfig(clip_after_s=30.0))
    slow.start(received.append, interval_s=0.05)
    try:
        assert slow.submit(hits[1], due_frame, CAMERA, scene_cfg, ring=ring)
        time.sleep(0.2)
        assert slow.pending == 1 and len(received) == 1
    finally:
        slow.stop()
    assert len(received) == 2
    assert [r.package.signed.manifest.manifest_seq for r in received] == [1, 2]
    assert all("clip" in [f.kind for f in r.package.files] for r in received)


def test_poll_finishes_only_what_is_due_and_retries_a_failing_disk(packaged, tmp_path: Path, shared_data: Path) -> None:
    _, hits, _ = packaged
    cap = cv2.VideoCapture(str(shared_data / "highway_720p.mp4"))
    image = cap.read()[1]
    cap.release()
    scene_cfg = SceneConfig.model_validate(SCENE)
    violations = ViolationEvidence(tmp_path, "edge-x", EvidenceConfig(clip_after_s=5.0))
    for mono in (10.0, 20.0, 30.0):  # due at 15, 25, 35
        assert violations.submit(hits[0], Frame.from_array(image, ts=T0, mono=mono), CAMERA, scene_cfg)
    assert [d.package.signed.manifest.manifest_seq for d in violations.poll(26.0, None)] == [1, 2]
    assert violations.pending == 1
    # the evidence store becomes unusable (here: a file where the folder was; root ignores
    # permissions): the violation is kept and retried, not lost
    store = violations.packager.store_dir
    broken = tmp_path / "broken-store"
    broken.write_bytes(b"")
    violations.packager.store_dir = broken
    try:
        assert violations.poll(40.0, None) == [] and violations.pending == 1
    finally:
        violations.packager.store_dir = store
    done = violations.poll(50.0, None)
    assert len(done) == 1 and violations.pending == 0
    assert done[0].package.signed.manifest.manifest_seq == 3
