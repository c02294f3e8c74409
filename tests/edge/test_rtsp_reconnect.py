"""A real RTSP camera dies mid-stream and comes back: offline, reconnect, online, events go on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge.worker import EdgeWorker
from tests.conftest import free_port
from tests.edge.helpers import Recorder, counting_scene, site
from tests.video.rtsp_server import RtspServer


@pytest.mark.slow
def test_rtsp_server_killed_and_restarted(shared_data: Path, tmp_path: Path) -> None:
    missing = RtspServer.available()
    if missing:
        pytest.fail(missing)
    threads_before = set(threading.enumerate())
    server = RtspServer(shared_data / "highway_720p.mp4", free_port()).start()
    cfg = site(tmp_path / "edge", f"http://127.0.0.1:{free_port()}", detector={
        "type": "yolox", "model": str(shared_data / "yolox_nano.onnx")}, cameras=[
        {"id": "cam-rtsp", "unit": "u1", "url": server.url, "stall_timeout_s": 3, "backoff_max_s": 1,
         "scene": counting_scene(1.0)},
        # Another camera on the same worker must not notice the RTSP camera's trouble.
        {"id": "cam-file", "unit": "u1", "url": str(shared_data / "street_crossing_320p.mp4"), "loop": True,
         "detector": {"type": "motion"}, "scene": {
             "lines": [{"name": "l", "start": [0, 200], "end": [576, 200]}],
             "rules": [{"type": "line_count", "line": "l", "interval_s": 1, "classes": ["motion"]}]}},
    ])
    rec = Recorder()
    worker = EdgeWorker(cfg, on_event=rec)
    worker.start()
    try:
        rec.wait_for("first online", lambda: len(rec.of("cam-rtsp", "camera.online")) == 1, 20)
        rec.wait_for("counts before the kill", lambda: len(rec.of("cam-rtsp", "count.line")) >= 2, 15)
        assert worker.heartbeat_body()["cameras"][0]["status"] == "online"

        server.kill()
        killed = time.monotonic()
        rec.wait_for("camera.offline", lambda: len(rec.of("cam-rtsp", "camera.offline")) == 1, 10)
        assert time.monotonic() - killed < 5  # the stall timeout (3 s) at the latest
        assert worker.heartbeat_body()["cameras"][0]["status"] == "offline"
        file_counts_at_kill = len(rec.of("cam-file", "count.line"))
        time.sleep(3)  # the camera stays down; reconnect attempts fail with backoff, quietly
        assert len(rec.of("cam-rtsp", "camera.offline")) == 1  # one offline event, not one per retry
        assert len(rec.of("cam-file", "count.line")) > file_counts_at_kill  # the other camera kept working

        server.start()
        restarted = time.monotonic()
        rec.wait_for("camera.online again", lambda: len(rec.of("cam-rtsp", "camera.online")) == 2, 15)
        assert time.monotonic() - restarted < 5  # backoff is capped at 1 s here
        online_again = rec.of("cam-rtsp", "camera.online")[1]
        rec.wait_for("vehicles counted after the reconnect", lambda: sum(
            e.payload["total"] for e in rec.of("cam-rtsp", "count.line") if e.seq > online_again.seq) >= 2, 20)
    finally:
        worker.stop()
        server.kill()

    types = [e.type for e in rec.of("cam-rtsp") if e.type.startswith("camera.")]
    assert types == ["camera.online", "camera.offline", "camera.online"]
    seqs = [e.seq for e in rec.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    time.sleep(0.5)
    leaked = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leaked == []
