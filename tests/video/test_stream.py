"""CameraStream's watchdog: a source that goes silent (connection open, no frames) is
dropped after the stall timeout, reported offline once, and picked up again."""

from __future__ import annotations

import threading
import time

import numpy as np

from video import (CameraStream, CaptureOptions, MjpegServer, StatusChange, StreamOptions, encode_jpeg)


def test_silent_source_goes_offline_and_comes_back() -> None:
    threads_before = set(threading.enumerate())
    server = MjpegServer("127.0.0.1", 0).start()
    sending = threading.Event()
    quit_ = threading.Event()

    def camera() -> None:
        i = 0
        while not quit_.is_set():
            if sending.is_set():
                server.publish("cam", encode_jpeg(np.full((90, 160, 3), i % 250, np.uint8), 80))
                i += 1
            time.sleep(0.04)

    producer = threading.Thread(target=camera)
    sending.set()
    producer.start()
    changes: list[StatusChange] = []
    stream = CameraStream("cam", f"{server.url}/cam.mjpg", StreamOptions(
        capture=CaptureOptions(open_timeout_s=2, stall_timeout_s=1.0), backoff_initial_s=0.2, backoff_max_s=0.5),
        on_status=changes.append)
    slot = stream.subscribe("test")
    stream.start()
    try:
        assert slot.get(5) is not None
        deadline = time.monotonic() + 5
        while [c.status for c in changes] != ["online"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c.status for c in changes] == ["online"]

        sending.clear()  # the camera hangs: the HTTP connection stays open, nothing arrives
        silent_at = time.monotonic()
        while len(changes) < 2 and time.monotonic() - silent_at < 6:
            time.sleep(0.05)
        assert changes[1].status == "offline"
        assert 0.8 < time.monotonic() - silent_at < 4  # the watchdog fired after ~1 s, not never
        assert "no data for 1 s" in changes[1].reason or "stream ended" in changes[1].reason
        time.sleep(1.5)  # reconnects keep failing quietly meanwhile
        assert [c.status for c in changes] == ["online", "offline"]
        assert stream.reconnects >= 1

        sending.set()
        deadline = time.monotonic() + 6
        while len(changes) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c.status for c in changes] == ["online", "offline", "online"]
        frame = slot.get(3)
        assert frame is not None and frame.ts.tzinfo is not None
    finally:
        stream.stop()
        quit_.set()
        producer.join()
        server.stop()
    assert slot.closed
    time.sleep(0.3)
    assert [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()] == []
