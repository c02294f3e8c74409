"""The MJPEG preview server, read back through our own HTTP MJPEG source."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np

from video import Capture, CaptureOptions, MjpegServer, encode_jpeg


def test_mjpeg_server_stream_is_readable_as_a_camera() -> None:
    before = set(threading.enumerate())
    server = MjpegServer("127.0.0.1", 0).start()
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            image = np.full((120, 160, 3), (i * 20) % 256, np.uint8)
            server.publish("cam-1", encode_jpeg(image, 80))
            i += 1
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(0.2)
        assert httpx.get(f"{server.url}/").json() == {"streams": ["cam-1"]}
        assert httpx.get(f"{server.url}/nope.mjpg").status_code == 404
        single = httpx.get(f"{server.url}/cam-1.jpg")
        assert single.status_code == 200 and single.content[:2] == b"\xff\xd8"
        with Capture(f"{server.url}/cam-1.mjpg", CaptureOptions(open_timeout_s=5, stall_timeout_s=5)) as cap:
            frames = [f for _, f in zip(range(5), cap.frames())]
        assert [(f.width, f.height) for f in frames] == [(160, 120)] * 5
        assert len({int(f.image[0, 0, 0]) for f in frames}) > 1  # live: the picture changes
    finally:
        stop.set()
        producer.join()
        server.stop()
    time.sleep(0.3)
    assert set(threading.enumerate()) <= before
