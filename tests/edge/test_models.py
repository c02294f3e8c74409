"""`ioc models install` / `ioc models fetch`: SHA-256 checked before anything is installed.

`fetch` is tested against a real local HTTP server (http.server) serving ../shared/data.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from edge.exceptions import ModelError
from edge.models import KNOWN_MODELS, fetch, install, sha256_file
from ioc.cli import _register_all, app

YOLOX_SHA = "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd"


@pytest.fixture(scope="module")
def data_server(shared_data: Path) -> Iterator[str]:
    """A real HTTP server serving the shared data folder."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(shared_data))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_known_list_has_the_official_yolox_nano() -> None:
    spec = KNOWN_MODELS["yolox-nano"]
    assert spec.sha256 == YOLOX_SHA
    assert spec.url == "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx"


def test_fetch_downloads_checks_and_installs(data_server: str, tmp_path: Path) -> None:
    target = fetch("yolox-nano", base=tmp_path, url=f"{data_server}/yolox_nano.onnx")
    assert target == tmp_path / "models" / "yolox_nano.onnx"
    assert sha256_file(target) == YOLOX_SHA
    # no temp files left; the stock export has no class metadata, so its COCO names lie beside it
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["yolox_nano.classes.json", "yolox_nano.onnx"]
    from analytics.detectors import YoloxConfig
    from analytics.detectors.yolox import YoloxDetector

    detector = YoloxDetector(YoloxConfig(model=target))
    assert detector.model_classes[:4] == ["person", "bicycle", "car", "motorcycle"] and len(detector.model_classes) == 80
    assert detector.class_names == ["bicycle", "bus", "car", "motorbike", "pedestrian", "truck"]


def test_a_model_installed_before_class_maps_gets_its_side_file(tmp_path: Path, shared_data: Path) -> None:
    from edge.models import ensure_class_map

    model = tmp_path / "yolox_nano.onnx"
    model.write_bytes((shared_data / "yolox_nano.onnx").read_bytes())
    assert ensure_class_map(model) == tmp_path / "yolox_nano.classes.json"
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not a catalogue model")
    assert ensure_class_map(other) is None and not (tmp_path / "other.classes.json").exists()


@pytest.mark.parametrize(("path", "words"), [
    ("dog_bicycle_truck.jpg", "does not match"),     # the server answers, but with the wrong bytes
    ("no_such_model.onnx", "HTTP 404"),
])
def test_fetch_refuses_wrong_or_missing_files(data_server: str, tmp_path: Path, path: str, words: str) -> None:
    with pytest.raises(ModelError, match=words):
        fetch("yolox-nano", base=tmp_path, url=f"{data_server}/{path}")
    assert not (tmp_path / "models" / "yolox_nano.onnx").exists()
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-written either


def test_fetch_unknown_name_and_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model 'yolov99'"):
        fetch("yolov99", base=tmp_path)
    with pytest.raises(ModelError, match="download failed"):
        fetch("yolox-nano", base=tmp_path, url="http://127.0.0.1:9/yolox_nano.onnx", timeout_s=3)


@pytest.mark.parametrize(("name", "ok"), [("yolox_nano.onnx", True), ("highway_720p.mp4", False)])
def test_install_checks_the_hash(shared_data: Path, tmp_path: Path, name: str, ok: bool) -> None:
    if ok:
        assert sha256_file(install(shared_data / name, base=tmp_path)) == YOLOX_SHA
    else:
        with pytest.raises(ModelError, match="not a known model"):
            install(shared_data / name, base=tmp_path)
        assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize(("args", "code", "words"), [
    (["models", "fetch", "yolox-nano", "--url", "{server}/yolox_nano.onnx"], 0, "installed"),
    (["models", "fetch", "yolox-nano", "--url", "{server}/street_crossing_320p.mp4"], 1, "does not match"),
    (["models", "install", "{data}/yolox_nano.onnx"], 0, "installed"),
    (["models", "install", "{data}/dog_bicycle_truck.jpg"], 1, "not a known model"),
])
def test_cli(data_server: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             args: list[str], code: int, words: str) -> None:
    monkeypatch.setenv("IOC_DATA_DIR", str(tmp_path))
    _register_all()
    argv = [a.format(server=data_server, data=shared_data) for a in args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == code, result.output
    assert words in result.output
    installed = tmp_path / "models" / "yolox_nano.onnx"
    assert installed.exists() == (code == 0)
