"""Bad input on a running worker: a corrupt file, an unreachable URL and a broken camera
config each give a clear error, and the site's other camera keeps working."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import pytest

from edge.config import load_site
from edge.worker import EdgeWorker
from tests.conftest import free_port
from tests.edge.helpers import Recorder


@pytest.mark.slow
def test_bad_cameras_fail_clearly_and_the_good_one_keeps_working(shared_data: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes((shared_data / "highway_720p.mp4").read_bytes()[:3000])  # header cut off mid-box
    site_file = tmp_path / "site.yaml"
    site_file.write_text(textwrap.dedent(f"""\
        edge: {{id: edge-bad, data_dir: state}}
        hub: {{url: "http://127.0.0.1:{free_port()}", token: t}}
        detector: {{type: motion}}
        cameras:
          - id: cam-good
            unit: "1"
            url: {shared_data / "street_crossing_320p.mp4"}
            loop: true
            scene:
              lines: [{{name: l, start: [0, 200], end: [576, 200]}}]
              rules: [{{type: line_count, line: l, interval_s: 1, classes: [motion]}}]
          - id: cam-corrupt
            unit: "1"
            url: {corrupt}
          - id: cam-unreachable
            unit: "1"
            url: rtsp://127.0.0.1:{free_port()}/stream
            open_timeout_s: 2
          - id: cam-typo
            unit: "1"
            url: {shared_data / "highway_720p.mp4"}
            scene:
              zones: [{{name: z, polygon: [[0, 0], [100, 100]]}}]
          - id: cam-wrong-field
            unit: "1"
            url: {shared_data / "highway_720p.mp4"}
            fps: 5
        """))
    site, problems = load_site(site_file, strict=False)
    assert [c.id for c in site.cameras] == ["cam-good", "cam-corrupt", "cam-unreachable"]
    assert "site.yaml:23: cameras[3].scene.zones[0].polygon" in problems.cameras["cam-typo"][0]
    assert problems.cameras["cam-wrong-field"] == [
        f"{site_file}:27: cameras[4].fps: Extra inputs are not permitted"]

    threads_before = set(threading.enumerate())
    rec = Recorder()
    worker = EdgeWorker(site, problems, on_event=rec)
    worker.start()
    try:
        rec.wait_for("both bad cameras reported offline", lambda: len(rec.of(type="camera.offline")) == 2, 15)
        reasons = {e.camera: e.payload["reason"] for e in rec.of(type="camera.offline")}
        assert "invalid data" in reasons["cam-corrupt"].lower() or "no decodable" in reasons["cam-corrupt"].lower()
        assert "refused" in reasons["cam-unreachable"].lower()
        rec.wait_for("the good camera counting", lambda: len(rec.of("cam-good", "count.line")) >= 3, 15)
        time.sleep(2)  # bad cameras keep retrying in the background: still one offline event each
        assert len(rec.of(type="camera.offline")) == 2
        body = worker.heartbeat_body()
        statuses = {c["id"]: c["status"] for c in body["cameras"]}
        assert statuses == {"cam-good": "online", "cam-corrupt": "offline", "cam-unreachable": "offline"}
        assert body["detector"] == {"kind": "motion", "model": None}
    finally:
        worker.stop()
    time.sleep(0.3)
    assert [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()] == []


def test_missing_model_fails_only_its_cameras(shared_data: Path, tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(textwrap.dedent(f"""\
        edge: {{id: edge-nomodel, data_dir: state}}
        hub: {{url: "http://127.0.0.1:{free_port()}", token: t}}
        cameras:
          - id: cam-model
            unit: "1"
            url: {shared_data / "street_crossing_320p.mp4"}
            detector: {{type: yolox, model: models/missing.onnx}}
          - id: cam-motion
            unit: "1"
            url: {shared_data / "street_crossing_320p.mp4"}
            detector: {{type: motion}}
        """))
    site, _ = load_site(site_file)
    rec = Recorder()
    worker = EdgeWorker(site, on_event=rec)
    worker.start()
    try:
        assert list(worker.failed) == ["cam-model"]
        assert "missing.onnx" in worker.failed["cam-model"]
        assert rec.of("cam-model", "camera.offline")[0].payload["reason"] == worker.failed["cam-model"]
        rec.wait_for("the other camera online", lambda: len(rec.of("cam-motion", "camera.online")) == 1, 10)
    finally:
        worker.stop()
