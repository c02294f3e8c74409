"""`ioc edge replay` on real clips: frame-exact and repeatable, annotated hit images and
events.jsonl written, clear errors; the frozen-picture watchdog raises camera.frozen /
camera.unfrozen through the pipeline on a real clip with a frozen stretch."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge.config import load_site
from edge.exceptions import ReplayError
from edge.replay import DEFAULT_START, parse_start, replay
from ioc.cli import _register_all, app

# Đà Nẵng underpass approach, 854x480: the left carriageway comes towards the camera, the
# right one goes away; a gate across both at y=330, the near road as an intrusion zone.
DANANG = "vn/danang_lanes_480p.mp4"


def _site(tmp_path: Path, shared_data: Path, camera_extra: str = "", detect_fps: float = 5) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(f"""\
        edge: {{id: edge-replay, data_dir: state}}
        hub: {{url: "http://127.0.0.1:9", token: t}}
        detector: {{type: yolox, model: {shared_data / "yolox_nano.onnx"}}}
        violations: {{enabled: false}}
        cameras:
          - id: cam-dn
            unit: "1"
            url: {shared_data / DANANG}
            detect_fps: {detect_fps}
            scene:
              lines: [{{name: gate, start: [0, 330], end: [854, 330], in_name: down, out_name: up}}]
              zones: [{{name: near, polygon: [[0, 380], [854, 380], [854, 480], [0, 480]]}}]
              rules:
                - {{type: line_count, line: gate, interval_s: 4}}
                - {{type: zone_intrusion, zone: near, classes: [motorbike, car]}}
        """) + textwrap.indent(textwrap.dedent(camera_extra), "  "))
    return path


def _invoke(*args: str):
    _register_all()
    return CliRunner().invoke(app, ["edge", "replay", *args])


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def test_two_replays_give_identical_events_with_frame_numbers(shared_data: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, shared_data)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = _invoke(str(site), "--camera", "cam-dn", "--source", str(shared_data / DANANG), "--out", str(out))
        assert result.exit_code == 0, result.output
        runs.append((result.output, _events(out), out))
    (out_a, ev_a, dir_a), (out_b, ev_b, dir_b) = runs
    assert ev_a == ev_b  # frame numbers, times, tracks, classes, payloads, file names
    printed = [line for line in out_a.splitlines() if line.startswith("frame ")]
    assert printed == [line for line in out_b.splitlines() if line.startswith("frame ")]
    assert len(printed) == len(ev_a) and "cam-dn: frames 0-607 of danang_lanes_480p.mp4" in out_a

    types = [e["type"] for e in ev_a]
    assert "count.line" in types and "security.intrusion" in types, types
    counts = [e for e in ev_a if e["type"] == "count.line"]
    assert sum(e["payload"]["total"] for e in counts) >= 10  # a busy road: two carriageways of motorbikes
    assert {d for e in counts for d in e["payload"]["counts"]} == {"down", "up"}
    fps = cv2.VideoCapture(str(shared_data / DANANG)).get(cv2.CAP_PROP_FPS)
    for e in ev_a:
        assert 0 <= e["frame"] <= 607
        if e["type"] == "security.intrusion":
            assert e["track"] is not None and e["class"] in ("motorbike", "car")
            assert f"frame {e['frame']:>6}  security.intrusion" in out_a and f"#{e['track']} {e['class']}" in out_a
            # frame-exact: the event's time is its frame over the file's rate, from the fixed start
            seconds = (parse_start(e["ts"]) - DEFAULT_START).total_seconds()
            assert round(seconds * fps) == e["frame"]
            # an annotated image of the hit, and the overview evidence the hub would have got
            image = cv2.imread(str(dir_a / e["image"]))
            assert image is not None and image.shape == (480, 854, 3)
            assert e["image"] == f"hits/{e['frame']:06d}-security.intrusion-t{e['track']}.jpg"
            assert any(f.endswith("overview.jpg") for f in e["files"])
    assert len(list((dir_a / "hits").glob("*.jpg"))) >= len([e for e in ev_a if e["type"] == "security.intrusion"])


def test_frame_range_and_analysis_rate(shared_data: Path, tmp_path: Path) -> None:
    site, problems = load_site(_site(tmp_path, shared_data), strict=False)
    result = replay(site, "cam-dn", shared_data / DANANG, out=tmp_path / "r", first_frame=300, last_frame=419,
                    detect_fps=10)
    assert (result.first_frame, result.last_frame, result.frames_read) == (300, 419, 120)
    assert result.frames_analysed == 40  # every 3rd frame of 30 fps at 10 fps
    assert all(300 <= e.frame <= 419 for e in result.events)
    assert result.speed > 0 and result.events


def test_on_frame_sees_every_analysed_frame_with_its_tracks(shared_data: Path, tmp_path: Path) -> None:
    site, _ = load_site(_site(tmp_path, shared_data), strict=False)
    seen: list[tuple[int, list[int], list[str]]] = []
    result = replay(site, "cam-dn", shared_data / DANANG, first_frame=300, last_frame=359, detect_fps=10,
                    on_frame=lambda frame, r: seen.append((frame.index, r.tracks.tracker_id.tolist(),
                                                           r.tracks.class_names)))
    assert [i for i, _, _ in seen] == list(range(300, 360, 3)) and len(seen) == result.frames_analysed
    ids = [t for _, tracks, _ in seen for t in tracks]
    assert ids and all(t >= 0 for t in ids)  # confirmed tracks of a busy road, each with its id
    assert "motorbike" in {c for _, _, names in seen for c in names}


@pytest.mark.parametrize(("args", "words"), [
    (["--camera", "cam-nope"], ["no camera 'cam-nope' in the site config; cameras: cam-dn"]),
    (["--camera", "cam-dn", "--source", "/nonexistent/clip.mp4"], ["/nonexistent/clip.mp4: no such file"]),
    (["--camera", "cam-dn", "--source", "{site}"], ["not a video file OpenCV can read"]),
    (["--camera", "cam-dn", "--from", "700"], ["no frames in the range --from 700"]),
    (["--camera", "cam-dn", "--from", "50", "--to", "10"], ["bad frame range"]),
    (["--camera", "cam-dn", "--start", "yesterday"], ["--start 'yesterday': not an ISO 8601 time"]),
])
def test_bad_input_is_a_clear_error_and_exit_1(shared_data: Path, tmp_path: Path, args: list[str], words: list[str]) -> None:
    site = _site(tmp_path, shared_data)
    args = [a.format(site=site) for a in args]
    if "--source" not in args:
        args += ["--source", str(shared_data / DANANG)]
    result = _invoke(str(site), *args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    for w in words:
        assert w in result.output


def test_an_invalid_camera_is_named_with_its_problem(shared_data: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, shared_data, camera_extra="""\
        - id: cam-bad
          unit: "1"
          url: x.mp4
          scene: {ignore: [{polygon: [[0, 0], [5, 5]]}]}
        """)
    result = _invoke(str(site), "--camera", "cam-bad", "--source", str(shared_data / DANANG))
    assert result.exit_code == 1
    assert "camera 'cam-bad' has an invalid config" in result.output and "at least 3 points" in result.output


def _clip_with_a_frozen_stretch(src: Path, dst: Path, freeze_at: int, freeze_frames: int, total: int) -> float:
    """Real frames of ``src``; from ``freeze_at`` the same decoded frame ``freeze_frames`` times, then real again."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) < total:
        ok, image = cap.read()
        assert ok
        frames.append(image)
    cap.release()
    out = frames[:freeze_at] + [frames[freeze_at]] * freeze_frames + frames[freeze_at + 1:]
    h, w = out[0].shape[:2]
    # lossless (FFV1 in .mkv) so the repeated frame stays bit-identical, as a stuck encoder sends it
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert writer.isOpened()
    for image in out:
        writer.write(image)
    writer.release()
    return fps


def test_frozen_picture_raises_camera_frozen_and_unfrozen(shared_data: Path, tmp_path: Path) -> None:
    clip = tmp_path / "frozen.mkv"
    fps = _clip_with_a_frozen_stretch(shared_data / "street_crossing_320p.mp4", clip, freeze_at=60, freeze_frames=120,
                                      total=180)
    site, _ = load_site(_site(tmp_path, shared_data, detect_fps=5), strict=False)
    site.cameras[0].frozen.after_s = 2.0
    site.cameras[0].scene.rules = []
    result = replay(site, "cam-dn", clip, out=tmp_path / "fz")
    camera = [(e.frame, e.type, e.severity, e.payload) for e in result.events if e.type.startswith("camera.")]
    assert [c[1] for c in camera] == ["camera.frozen", "camera.unfrozen"], camera
    (f_frame, _, f_sev, f_payload), (u_frame, _, u_sev, u_payload) = camera
    assert f_sev == "warning" and u_sev == "info"
    # frozen from frame 60 (the last change) for 2 s at 5 analysed fps: reported at frame 120
    assert 60 + 2 * fps - 6 <= f_frame <= 60 + 2 * fps + 6 and f_payload["frozen_s"] >= 2.0
    # moving again at the first real frame after the 120 repeats (frame 180)
    assert 180 <= u_frame <= 186 and u_payload["frozen_s"] == pytest.approx(4.0, abs=0.25)


def test_real_clip_never_freezes(shared_data: Path, tmp_path: Path) -> None:
    site, _ = load_site(_site(tmp_path, shared_data), strict=False)
    site.cameras[0].frozen.after_s = 1.0
    site.cameras[0].scene.rules = []
    result = replay(site, "cam-dn", shared_data / "street_crossing_320p.mp4", last_frame=440)
    assert not [e for e in result.events if e.type.startswith("camera.")]


def test_parse_start() -> None:
    assert parse_start(None) == DEFAULT_START
    assert parse_start("2025-01-06T08:00:00+07:00") == DEFAULT_START
    assert parse_start("2025-01-06T01:00:00") == DEFAULT_START
    with pytest.raises(ReplayError):
        parse_start("soon")


def test_nothing_is_analysed_while_the_picture_is_frozen(shared_data: Path, tmp_path: Path) -> None:
    """Pedestrians on a frozen picture "stand still": without the watchdog a stopping rule fires
    during the freeze; with it, nothing is analysed from the moment the freeze is declared."""
    from analytics.scene import SceneConfig

    clip = tmp_path / "frozen.mkv"
    _clip_with_a_frozen_stretch(shared_data / "street_crossing_320p.mp4", clip, freeze_at=60, freeze_frames=120, total=180)
    site, _ = load_site(_site(tmp_path, shared_data), strict=False)
    camera = site.cameras[0]
    camera.scene = SceneConfig.model_validate({
        "zones": [{"name": "all", "polygon": [[0, 0], [576, 0], [576, 320], [0, 320]]}],
        "rules": [{"type": "illegal_stopping", "zone": "all", "max_stationary_s": 2,
                   "classes": ["pedestrian", "car", "truck", "motorbike", "bicycle", "bus"]}]})
    camera.frozen.after_s = 2.0
    hits_while_frozen = {}
    for watch in (False, True):
        camera.frozen.enabled = watch
        events = replay(site, "cam-dn", clip).events
        declared = next((e.frame for e in events if e.type == "camera.frozen"), 120)
        hits_while_frozen[watch] = [e.frame for e in events if e.type.startswith("traffic.") and declared <= e.frame < 180]
    assert hits_while_frozen[False], "the frozen picture must make someone 'stand' (else the test shows nothing)"
    assert hits_while_frozen[True] == []


def test_ignore_mask_through_the_pipeline(shared_data: Path, tmp_path: Path) -> None:
    """Masking the right carriageway of the real Đà Nẵng clip: its traffic is neither counted
    nor reported; the left carriageway's still is."""
    from analytics.scene import IgnoreMaskConfig

    site, _ = load_site(_site(tmp_path, shared_data), strict=False)
    right = [(385, 150), (854, 150), (854, 480), (425, 480)]
    plain = replay(site, "cam-dn", shared_data / DANANG)
    site.cameras[0].scene.ignore = [IgnoreMaskConfig(name="right", polygon=right)]
    masked = replay(site, "cam-dn", shared_data / DANANG)

    def directions(result) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in result.events:
            for d, by_class in e.payload.get("counts", {}).items():
                out[d] = out.get(d, 0) + sum(by_class.values())
        return out

    both, one = directions(plain), directions(masked)
    assert set(both) == {"down", "up"} and len(one) == 1, (both, one)
    kept = next(iter(one))
    assert one[kept] >= 0.8 * both[kept]  # the other carriageway is counted as before (tracks may differ a little)
    contour = np.array(right, np.float32).reshape(-1, 1, 2)
    for e in masked.events:
        if e.type == "security.intrusion":
            x1, _, x2, y2 = e.payload["box"]
            assert cv2.pointPolygonTest(contour, (float(x1 + x2) / 2, float(y2)), False) < 0
    assert masked.stats["ignored"] > 100
    assert len([e for e in masked.events if e.type == "security.intrusion"]) < \
        len([e for e in plain.events if e.type == "security.intrusion"])
