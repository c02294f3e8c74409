"""Latest-frame slots drop and count; the ring keeps a bounded JPEG window; clips and snapshots."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np
import pytest

from video import (ClipError, Capture, CaptureOptions, Frame, FrameRing, LatestSlot, SnapshotError, decode_jpeg,
                   encode_jpeg, write_clip)


def _frame(i: int, mono: float, size: tuple[int, int] = (72, 128)) -> Frame:
    image = np.full((*size, 3), i % 256, np.uint8)
    return Frame.from_array(image, ts=datetime.now(timezone.utc), mono=mono, index=i)


def test_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot("t")
    for i in range(5):
        slot.put(i)
    assert slot.get(0.1) == 4
    assert slot.dropped == 4 and slot.delivered == 1
    assert slot.get(0.05) is None  # nothing new: times out instead of repeating


def test_slot_close_wakes_a_waiting_consumer() -> None:
    slot: LatestSlot[int] = LatestSlot("t")
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(slot.get(10)))
    waiter.start()
    time.sleep(0.1)
    slot.close()
    waiter.join(2)
    assert not waiter.is_alive() and result == [None] and slot.closed


def test_slow_consumer_never_lags(shared_data: Path) -> None:
    """A consumer slower than the source sees recent frames, not a growing queue."""
    slot: LatestSlot[Frame] = LatestSlot("slow")
    with Capture(str(shared_data / "highway_720p.mp4"), CaptureOptions(realtime=False)) as cap:
        produced = 0
        for frame in cap.frames():
            slot.put(frame)
            produced += 1
            if produced % 20 == 0:
                got = slot.get(0)
                assert got is not None and got.index == frame.index  # the newest, never an old one
            if produced == 200:
                break
    assert slot.dropped == 200 - 10  # every frame not taken was dropped, none queued


@pytest.mark.parametrize(("fps", "seconds", "expected"), [(5, 2, 11), (10, 1, 11), (2, 4, 9)])
def test_ring_rate_and_window(fps: float, seconds: float, expected: int) -> None:
    ring = FrameRing(seconds=seconds, fps=fps, jpeg_quality=70)
    for i in range(300):  # 10 s of a 30 fps source
        ring.add(_frame(i, mono=i / 30))
    assert expected - 1 <= len(ring) <= expected  # seconds x fps, +1 when both ends land in the window
    newest = ring.latest()
    assert newest is not None and newest.mono == pytest.approx(299 / 30, abs=0.2)
    window = ring.window(newest.mono - 1.0, newest.mono)
    assert [f.mono for f in window] == sorted(f.mono for f in window)
    assert all(newest.mono - 1.0 <= f.mono <= newest.mono for f in window)
    assert ring.memory_bytes == sum(len(f.jpeg) for f in ring.window(-1, 1e9))


def test_ring_memory_is_bounded_for_720p(shared_data: Path) -> None:
    ring = FrameRing(seconds=10, fps=5, jpeg_quality=80)
    with Capture(str(shared_data / "highway_720p.mp4"), CaptureOptions(realtime=False)) as cap:
        for frame in cap.frames():
            frame.mono = frame.index / 30  # media time, as if paced
            ring.add(frame)
            if frame.index == 425:
                break
    assert len(ring) <= 51
    assert ring.memory_bytes < 10 * 1024 * 1024  # raw BGR would be 51 x 2.7 MB = 140 MB


def test_clip_from_ring_is_h264_mp4(shared_data: Path, tmp_path: Path) -> None:
    ring = FrameRing(seconds=4, fps=5)
    with Capture(str(shared_data / "street_crossing_320p.mp4"), CaptureOptions(realtime=False)) as cap:
        for frame in cap.frames():
            frame.mono = frame.index / 30
            ring.add(frame)
            if frame.index == 150:
                break
    frames = ring.window(1.0, 5.0)
    data = write_clip([f.jpeg for f in frames], fps=ring.fps)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        assert stream.codec_context.name == "h264"
    assert len(decoded) == len(frames)
    assert (decoded[0].width, decoded[0].height) == (576, 320)


@pytest.mark.parametrize(("frames", "fps", "message"), [
    ([], 5, "no frames"),
    ([np.zeros((10, 10, 3), np.uint8)], 0, "fps"),
    ([b"not a jpeg"], 5, "not an image"),
])
def test_clip_bad_input(frames: list, fps: float, message: str) -> None:
    with pytest.raises(ClipError, match=message):
        write_clip(frames, fps)


def test_snapshot_roundtrip_and_downscale(shared_data: Path) -> None:
    import cv2

    image = cv2.imread(str(shared_data / "dog_bicycle_truck.jpg"))
    data = encode_jpeg(image, quality=80, max_width=320)
    back = decode_jpeg(data)
    assert back.shape[1] == 320 and back.shape[0] == round(image.shape[0] * 320 / image.shape[1])
    with pytest.raises(SnapshotError):
        decode_jpeg(b"\x00" * 100)
