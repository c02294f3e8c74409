"""Class names come from the model or its side file, never from a table in the detector."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from analytics.detectors import YoloxConfig
from analytics.detectors.classmap import parse_class_list, read_class_map
from analytics.detectors.yolox import YoloxDetector
from analytics.exceptions import ModelError


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('["motorbike", "car"]', ["motorbike", "car"]),
        ("{0: 'person', 1: 'bicycle'}", ["person", "bicycle"]),  # Ultralytics' metadata
        ('{"1": "car", "0": "motorbike"}', ["motorbike", "car"]),
        ("motorbike\ncar\n\n", ["motorbike", "car"]),
    ],
)
def test_class_list_formats(text: str, names: list[str]) -> None:
    assert parse_class_list(text, "t") == names


@pytest.mark.parametrize("text", ["[]", '{"0": "a", "2": "b"}', "[1, 2]", '["ok", ""]'])
def test_bad_class_lists_are_refused(text: str) -> None:
    with pytest.raises(ModelError):
        parse_class_list(text, "t")


def test_a_model_without_names_is_refused_with_the_fix(tmp_path: Path, shared_data: Path) -> None:
    bare = tmp_path / "yolox_nano.onnx"
    shutil.copy(shared_data / "yolox_nano.onnx", bare)
    with pytest.raises(ModelError, match="no class names.*ioc models install"):
        YoloxDetector(YoloxConfig(model=bare))


def test_metadata_names_win_and_map_onto_the_vocabulary(tmp_path: Path, shared_data: Path) -> None:
    """A model whose metadata names its 80 outputs differently: the detector follows the model."""
    names = json.loads((shared_data / "yolox_nano.classes.json").read_text())
    names[3] = "scooter"  # an alias of motorbike
    names[0] = "worker"   # no product meaning: never decoded
    model = onnx.load(str(shared_data / "yolox_nano.onnx"))
    entry = model.metadata_props.add()
    entry.key, entry.value = "classes", json.dumps(names)
    path = tmp_path / "renamed.onnx"
    onnx.save(model, str(path))
    detector = YoloxDetector(YoloxConfig(model=path))
    assert detector.class_source == "metadata" and detector.model_classes[3] == "scooter"
    assert "motorbike" in detector.class_names and "pedestrian" not in detector.class_names


def test_explicit_class_map_and_a_wrong_count(tmp_path: Path, shared_data: Path) -> None:
    short = tmp_path / "four.json"
    short.write_text('["motorbike", "car", "truck", "bus"]')
    with pytest.raises(ModelError, match="85"):
        YoloxDetector(YoloxConfig(model=shared_data / "yolox_nano.onnx", class_map=short))
    names, source = read_class_map(shared_data / "yolox_nano.onnx", {}, None)
    assert len(names) == 80 and source.endswith("yolox_nano.classes.json")
