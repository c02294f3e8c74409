"""The frozen-picture check on real video: the same decoded frame fed again and again is
frozen; real consecutive frames (a fixed junction camera, a busy street) and a still real
frame with sensor noise never are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from video import FrozenPicture


def _frames(path: Path, start: int = 0, count: int | None = None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    try:
        while count is None or len(out) < count:
            ok, image = cap.read()
            if not ok:
                break
            if i >= start:
                out.append(image)
            i += 1
    finally:
        cap.release()
    assert out, f"no frames read from {path}"
    return out


@pytest.mark.parametrize("clip, start, count", [
    ("vn/junction_red_light_screenrec.mp4", 0, None),  # fixed camera, light traffic, duplicated frames
    ("street_crossing_320p.mp4", 0, 440),                # (its last second is a frozen tail and cuts)
    ("vn/danang_lanes_480p.mp4", 0, None),
])
def test_real_consecutive_frames_never_freeze(shared_data: Path, clip: str, start: int, count: int | None) -> None:
    check = FrozenPicture(after_s=1.0)
    fps = 30.0
    changes = [c for i, image in enumerate(_frames(shared_data / clip, start, count))
               if (c := check.update(image, i / fps)) is not None]
    assert changes == [] and not check.frozen


def test_the_same_decoded_frame_repeated_freezes_then_moves_again(shared_data: Path) -> None:
    real = _frames(shared_data / "street_crossing_320p.mp4", 100, 60)
    check = FrozenPicture(after_s=2.0)
    t, changes = 0.0, []
    for image in real[:10]:  # moving
        t += 0.2
        assert check.update(image, t) is None
    stuck = real[9]
    for _ in range(40):  # 8 s of the same picture at 5 fps
        t += 0.2
        if (c := check.update(stuck.copy(), t)) is not None:
            changes.append((round(t, 1), c))
    assert len(changes) == 1
    when, change = changes[0]
    assert change.state == "frozen" and when == pytest.approx(2.0 + 2.0, abs=0.01)
    assert change.frozen_s == pytest.approx(2.0, abs=0.01) and check.frozen
    assert check.still_for(t) == pytest.approx(8.0, abs=0.01)
    back = check.update(real[20], t + 0.2)
    assert back is not None and back.state == "unfrozen" and back.frozen_s == pytest.approx(8.2, abs=0.01)
    assert not check.frozen


def test_a_still_scene_with_sensor_noise_is_not_frozen(shared_data: Path) -> None:
    """A camera looking at an empty road at night: nothing moves, but the sensor is noisy."""
    still = _frames(shared_data / "vn/junction_red_light_screenrec.mp4", 0, 1)[0].astype(np.float32)
    rng = np.random.default_rng(7)
    check = FrozenPicture(after_s=1.0)
    for i in range(100):
        noisy = np.clip(still + rng.normal(0, 2.0, still.shape), 0, 255).astype(np.uint8)
        assert check.update(noisy, i * 0.2) is None
    assert check.last_difference > check.noise_floor


def test_frozen_re_encoded_stays_frozen(shared_data: Path) -> None:
    """A stuck MJPEG camera re-encoding one picture at its fixed quality is still frozen.

    (Re-encoding at a *varying* quality differs by 0.07-0.5 grey levels, as much as a
    sensor noise of 0.5-2 levels: no pixel statistic can tell those two apart.)"""
    image = _frames(shared_data / "highway_720p.mp4", 50, 1)[0]
    check = FrozenPicture(after_s=1.0)
    states = []
    for i in range(20):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        change = check.update(cv2.imdecode(buf, cv2.IMREAD_COLOR), i * 0.2)
        states.append(change.state if change else None)
    assert states.count("frozen") == 1 and check.frozen


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        FrozenPicture(after_s=0)
