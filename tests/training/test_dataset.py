"""Reading VOC and YOLO labels and splitting by camera, on the real HCMC frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import small_copy
from training.dataset import camera_of, read_dataset, split_by_camera
from training.exceptions import DatasetError


@pytest.mark.parametrize("name,pattern,camera", [
    ("2023_17.jpg", r"^([^_]+)_", "2023"),
    ("20232_1.jpg", r"^([^_]+)_", "20232"),
    ("20234_99.jpg", r"^([^_]+)_", "20234"),
    ("cam-nga-tu-01-20261204T031500.jpg", r"^(.+)-\d{8}T", "cam-nga-tu-01"),
    ("nounderscore.jpg", r"^([^_]+)_", "nounderscore"),
])
def test_camera_of(name, pattern, camera):
    assert camera_of(name, pattern) == camera


def test_reads_hcmc_voc(hcmc):
    with pytest.raises(DatasetError, match=r"dog \(1\), person \(1\)"):
        read_dataset(hcmc)  # two stray boxes name classes outside classes.txt
    ds = read_dataset(hcmc, ignore_unknown=True)
    assert ds.classes == ["motorbike", "truck", "bus", "car"]
    assert len(ds.samples) == 706 and ds.ignored == {"dog": 1, "person": 1}
    assert ds.cameras == ["2023", "20232", "20234"]
    counts = ds.counts()
    assert counts["motorbike"] > 5000 and counts["car"] > 2000 and counts["bus"] > 100
    s = next(s for s in ds.samples if s.image.name == "20232_1.jpg")
    assert s.camera == "20232" and len(s.boxes) == 7
    assert s.boxes[0].tolist() == [239, 172, 316, 232] and ds.classes[s.labels[0]] == "car"


@pytest.mark.parametrize("holdout,n_held,train_cams", [
    ("2023", 300, {"20232", "20234"}),
    ("20232", 300, {"2023", "20234"}),
    ("20234", 106, {"2023", "20232"}),
    (None, 106, {"2023", "20232"}),  # default: the camera with fewest images
])
def test_split_by_camera(hcmc, holdout, n_held, train_cams):
    ds = read_dataset(hcmc, ignore_unknown=True)
    train, held = split_by_camera(ds, holdout)
    assert len(held) == n_held and len(train) + len(held) == 706
    assert {s.camera for s in train} == train_cams
    assert not {s.image for s in train} & {s.image for s in held}


def test_split_errors(hcmc):
    ds = read_dataset(hcmc, ignore_unknown=True)
    with pytest.raises(DatasetError, match="not in the data; cameras: 2023 \\(300\\)"):
        split_by_camera(ds, "2099")
    one = read_dataset(hcmc, camera_pattern=r"^(\d)", ignore_unknown=True)  # every file is camera "2"
    with pytest.raises(DatasetError, match="one camera only"):
        split_by_camera(one)
    with pytest.raises(DatasetError, match="leaves no training images"):
        split_by_camera(one, "2")


def test_bad_folders(tmp_path, hcmc):
    with pytest.raises(DatasetError, match="no such folder"):
        read_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        read_dataset(tmp_path / "empty")
    nolabels = tmp_path / "nolabels" / "images"
    nolabels.mkdir(parents=True)
    shutil.copy(hcmc / "images" / "20232_1.jpg", nolabels)
    with pytest.raises(DatasetError, match="no image has a label file"):
        read_dataset(nolabels.parent)
    with pytest.raises(DatasetError, match="unknown format"):
        read_dataset(hcmc, fmt="coco")
    with pytest.raises(DatasetError, match="YOLO labels need classes.txt"):
        read_dataset(nolabels.parent, fmt="yolo")


def test_yolo_format_matches_voc(tmp_path, hcmc):
    voc = read_dataset(small_copy(hcmc, tmp_path / "voc", {"20232": 5, "20234": 3}))
    yolo = tmp_path / "yolo"
    (yolo / "labels").mkdir(parents=True)
    (yolo / "images").mkdir()
    (yolo / "classes.txt").write_text("\n".join(voc.classes) + "\n")
    for s in voc.samples:
        (yolo / "images" / s.image.name).symlink_to(s.image.resolve())
        w, h = 512, 288
        lines = [f"{c} {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} {(b[2] - b[0]) / w:.6f} {(b[3] - b[1]) / h:.6f}"
                 for b, c in zip(s.boxes, s.labels, strict=True)]
        (yolo / "labels" / f"{s.image.stem}.txt").write_text("\n".join(lines) + "\n")
    got = read_dataset(yolo, fmt="yolo")
    assert got.classes == voc.classes and [s.image.name for s in got.samples] == [s.image.name for s in voc.samples]
    for a, b in zip(got.samples, voc.samples, strict=True):
        assert np.allclose(a.boxes, b.boxes, atol=0.01) and (a.labels == b.labels).all() and a.camera == b.camera
    (yolo / "labels" / f"{voc.samples[0].image.stem}.txt").write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match="class id 9 not in classes.txt"):
        read_dataset(yolo, fmt="yolo")


def test_unknown_class_named(tmp_path, hcmc):
    d = small_copy(hcmc, tmp_path / "d", {"20232": 3})
    (d / "classes.txt").write_text("car\n")
    with pytest.raises(DatasetError, match=r"motorbike \(\d+\)"):
        read_dataset(d)
    assert read_dataset(Path(d), classes=["motorbike", "car", "truck", "bus"]).classes[0] == "motorbike"
