"""`ioc edge check` and `ioc edge --config` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ioc.cli import _register_all, app
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _site(tmp_path: Path, shared_data: Path, extra_camera: str = "") -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(f"""\
        edge: {{id: edge-cli, data_dir: state}}
        hub: {{url: "http://127.0.0.1:{free_port()}", token: t}}
        detector: {{type: yolox, model: {shared_data / "yolox_nano.onnx"}}}
        cameras:
          - id: cam-hw
            unit: "1"
            url: {shared_data / "highway_720p.mp4"}
        """) + textwrap.indent(textwrap.dedent(extra_camera), "  "))
    return path


@pytest.mark.parametrize(("extra", "code", "words"), [
    ("", 0, ["ok   cam-hw: 1280x720 30.0 fps, detector yolox",
             "cost: 1 inference pass(es) per frame (full frame)", "bare call measured now"]),
    ("""\
     - id: cam-tiles
       unit: "1"
       url: {video}
       detector: {{type: yolox, model: {model}, tiling: {{enabled: true, mode: scene, max_tiles: 3}}}}
       scene: {{lanes: [{{name: l, polygon: [[0, 400], [1280, 400], [1280, 720], [0, 720]], direction: [0, 1]}}]}}
     """, 0, ["ok   cam-tiles", "4 inference pass(es) per frame (1 full frame + 3 tiles)"]),
    ("""\
     - id: cam-off
       unit: "1"
       url: x.mp4
       enabled: false
       detector: {{type: yolox, model: /nonexistent/m.onnx}}
     """, 0, ["skip cam-off: disabled"]),
    ("""\
     - id: cam-gone
       unit: "1"
       url: rtsp://127.0.0.1:{port}/x
     """, 1, ["ok   cam-hw", "FAIL cam-gone", "Connection refused"]),
    ("""\
     - id: cam-poly
       unit: "1"
       url: x.mp4
       scene: {{zones: [{{name: z, polygon: [[0, 0], [5, 5]]}}]}}
     """, 1, ["FAIL cam-poly: invalid config", "site.yaml:11: cameras[1].scene.zones[0].polygon"]),
    ("""\
     - id: cam-nomodel
       unit: "1"
       url: x.mp4
       detector: {{type: yolox, model: /nonexistent/m.onnx}}
     """, 1, ["FAIL cam-nomodel: model /nonexistent/m.onnx not found", "ioc models fetch"]),
])
def test_edge_check(shared_data: Path, tmp_path: Path, extra: str, code: int, words: list[str]) -> None:
    path = _site(tmp_path, shared_data, extra.format(port=free_port(), video=shared_data / "highway_720p.mp4",
                                                     model=shared_data / "yolox_nano.onnx"))
    _register_all()
    result = CliRunner().invoke(app, ["edge", "check", str(path), "--open-timeout", "3"])
    assert result.exit_code == code, result.output
    for word in words:
        assert word in result.output


def test_edge_check_top_level_error(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("edge: {id: e1}\nhub: {url: nope}\n")
    _register_all()
    result = CliRunner().invoke(app, ["edge", "check", str(path)])
    assert result.exit_code == 1
    assert "site.yaml:2: hub.url" in result.output


@pytest.mark.slow
def test_edge_runs_and_stops_cleanly_on_sigint(shared_data: Path, tmp_path: Path) -> None:
    path = _site(tmp_path, shared_data)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ioc"), "edge", "--config", str(path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = ""
        deadline = time.monotonic() + 30
        while "camera cam-hw online" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            output += line
        assert "camera cam-hw online" in output, output
        proc.send_signal(signal.SIGINT)
        stopping = time.monotonic()
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
            pytest.fail(f"ioc edge did not stop within 60 s of SIGINT:\n{output}{rest}")
        output += rest
        assert time.monotonic() - stopping < 30, output
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "edge edge-cli stopped" in output
    assert (tmp_path / "state" / "outbox.sqlite").exists()
