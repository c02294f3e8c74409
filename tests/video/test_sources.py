"""Sources on the real videos, and bad input: corrupt, missing, unreachable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from video import Capture, CaptureOptions, SourceEnded, SourceOpenError, probe, source_kind


@pytest.mark.parametrize(("name", "size"), [
    ("highway_720p.mp4", (1280, 720)),
    ("street_crossing_320p.mp4", (576, 320)),
])
def test_probe_real_videos(shared_data: Path, name: str, size: tuple[int, int]) -> None:
    width, height, fps = probe(str(shared_data / name))
    assert (width, height) == size
    assert fps is not None and abs(fps - 30) < 0.5


@pytest.mark.parametrize(("url", "kind"), [
    ("rtsp://10.0.0.5/stream1", "rtsp"), ("RTSPS://cam/x", "rtsp"), ("http://cam/video.mjpg", "http"),
    ("https://cam/x", "http"), ("/data/x.mp4", "file"), ("file:///data/x.mp4", "file"),
])
def test_source_kind(url: str, kind: str) -> None:
    assert source_kind(url) == kind


def _corrupt_copy(shared_data: Path, tmp_path: Path, how: str) -> Path:
    data = (shared_data / "highway_720p.mp4").read_bytes()
    path = tmp_path / f"{how}.mp4"
    if how == "garbage":
        path.write_bytes(bytes(range(256)) * 400)
    elif how == "truncated_header":
        path.write_bytes(data[:2000])
    elif how == "empty":
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize("how", ["garbage", "truncated_header", "empty"])
def test_corrupt_file_is_a_clear_open_error(shared_data: Path, tmp_path: Path, how: str) -> None:
    path = _corrupt_copy(shared_data, tmp_path, how)
    with pytest.raises(SourceOpenError) as info:
        probe(str(path))
    assert str(path) in str(info.value)
    assert info.value.reason  # the cause is named, e.g. "Invalid data found when processing input"


@pytest.mark.parametrize("url_template", [
    "rtsp://127.0.0.1:{port}/stream", "http://127.0.0.1:{port}/cam.mjpg", "/nonexistent/dir/video.mp4",
])
def test_unreachable_source_is_a_clear_open_error(url_template: str) -> None:
    url = url_template.format(port=free_port())
    started = time.monotonic()
    with pytest.raises(SourceOpenError) as info:
        probe(url, CaptureOptions(open_timeout_s=3))
    assert time.monotonic() - started < 5
    assert any(word in info.value.reason.lower() for word in ("refused", "not found"))


def test_password_is_not_in_error_messages() -> None:
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/x"
    with pytest.raises(SourceOpenError) as info:
        probe(url, CaptureOptions(open_timeout_s=2))
    assert "s3cret" not in str(info.value) and "admin:***@" in str(info.value)


def test_file_ends_unless_looping(shared_data: Path) -> None:
    url = str(shared_data / "street_crossing_320p.mp4")
    with Capture(url, CaptureOptions(realtime=False)) as cap:
        frames = 0
        with pytest.raises(SourceEnded):
            for _ in cap.frames():
                frames += 1
    assert frames == 479
    with Capture(url, CaptureOptions(realtime=False, loop=True)) as cap:
        seen = [f.index for _, f in zip(range(700), cap.frames())]
    assert seen == list(range(700))  # played past the end: looped without a gap


def test_realtime_pacing_follows_timestamps(shared_data: Path) -> None:
    with Capture(str(shared_data / "highway_720p.mp4"), CaptureOptions(realtime=True)) as cap:
        started = time.monotonic()
        frames = [f for _, f in zip(range(46), cap.frames())]
    elapsed = time.monotonic() - started
    assert 1.3 < elapsed < 2.5  # 45 frame intervals at 30 fps = 1.5 s
    assert all(b.mono >= a.mono for a, b in zip(frames, frames[1:]))
    assert frames[0].ts.tzinfo is not None
