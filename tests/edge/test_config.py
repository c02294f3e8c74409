"""Site config: every problem names the file, the line and the field; one bad camera leaves the others."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.config import load_site
from edge.exceptions import ConfigError

GOOD_CAMERA = """\
  - id: cam-good
    unit: "26734"
    url: video.mp4
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "line", "field", "words"), [
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam-1
            unit: "1"
            url: a.mp4
            colour: red
        """, 6, "cameras[0].colour", "Extra inputs", id="wrong-field"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam-1
            unit: "1"
            url: a.mp4
            scene:
              zones:
                - name: yard
                  polygon: [[0, 0], [100, 100]]
        """, 9, "cameras[0].scene.zones[0].polygon", "at least 3 points", id="polygon-2-points"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam-1
            unit: "1"
            url: a.mp4
            detector:
              type: yolo9000
        """, 7, "cameras[0].detector", "yolo9000", id="unknown-detector"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam-1
            unit: "1"
            url: a.mp4
            scene:
              rules:
                - type: line_count
                  line: nowhere
        """, 7, "cameras[0].scene", "nowhere", id="rule-names-missing-line"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam-1
            unit: "1"
            url: a.mp4
            detect_fps: 500
        """, 6, "cameras[0].detect_fps", "less than or equal to 30", id="fps-out-of-bounds"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam 1
            unit: "1"
            url: a.mp4
        """, 3, "cameras[0].id", "pattern", id="bad-camera-id"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - unit: "1"
            url: a.mp4
        """, 3, "cameras[0].id", "Field required", id="missing-id"),
    pytest.param("""\
        edge: {id: e1}
        hub: {url: ftp://hub}
        """, 2, "hub.url", "pattern", id="bad-hub-url"),
    pytest.param("""\
        edge: {id: e1}
        cameras:
          - id: cam-1
            unit: "1"
            url: a.mp4
          - id: cam-1
            unit: "1"
            url: b.mp4
        """, 6, "cameras[1].id", "duplicate", id="duplicate-camera"),
])
def test_each_problem_names_file_line_and_field(tmp_path: Path, body: str, line: int, field: str,
                                                words: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    message = str(info.value)
    assert f"{path}:{line}: {field}" in message, message
    assert words in message


@pytest.mark.parametrize(("body", "words"), [
    ("edge: {id: e1\ncameras: [\n", "YAML syntax error"),
    ("- just\n- a list\n", "must be a mapping"),
    ("cameras: []\n", "edge: Field required"),
])
def test_unusable_files(tmp_path: Path, body: str, words: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=words) as info:
        load_site(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_site(tmp_path / "nope.yaml")


def test_lenient_load_keeps_the_good_cameras(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
        edge: {id: e1}
        cameras:
          - id: cam-bad
            unit: "1"
            url: a.mp4
            scene:
              zones: [{name: z, polygon: [[0, 0], [1, 1]]}]
          - id: cam-good
            unit: "1"
            url: b.mp4
        """)
    site, problems = load_site(path, strict=False)
    assert [c.id for c in site.cameras] == ["cam-good"]
    assert list(problems.cameras) == ["cam-bad"]
    assert f"{path}:7: cameras[0].scene.zones[0].polygon" in problems.cameras["cam-bad"][0]


def test_relative_paths_are_resolved_against_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
        edge: {id: e1, data_dir: state}
        detector: {type: yolox, model: models/yolox_nano.onnx}
        cameras:
          - {id: c1, unit: "1", url: videos/a.mp4}
          - {id: c2, unit: "1", url: "rtsp://10.0.0.5/s1"}
        """)
    site, _ = load_site(path)
    assert site.edge.data_dir == tmp_path.resolve() / "state"
    assert site.detector.model == tmp_path.resolve() / "state" / "models" / "yolox_nano.onnx"
    assert site.cameras[0].url == str(tmp_path.resolve() / "videos" / "a.mp4")
    assert site.cameras[1].url == "rtsp://10.0.0.5/s1"


def test_token_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "edge: {id: e1}\nhub: {token: '${EDGE_TOKEN_T}'}\n")
    monkeypatch.setenv("EDGE_TOKEN_T", "s3cret")
    assert load_site(path)[0].hub.token == "s3cret"
    monkeypatch.delenv("EDGE_TOKEN_T")
    with pytest.raises(ConfigError, match=r"site.yaml:2: hub.token: .*EDGE_TOKEN_T is not set"):
        load_site(path)


def test_documented_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_EDGE_TOKEN", "token-from-ioc-edge-register")
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "site.yaml"
    site, problems = load_site(example)
    assert site.cameras and not problems.cameras
    assert {r.type for c in site.cameras for r in c.scene.rules} >= {"line_count", "zone_intrusion", "wrong_way"}
