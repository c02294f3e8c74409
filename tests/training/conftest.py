"""Fixtures for the training tests: the real HCMC labelled frames and the stock model.

PyTorch comes with the ``train`` extra. Outside CI a machine without it skips the
torch tests; in CI (``CI=true``) they fail, since CI installs ``.[test,train]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

HCMC = SHARED_DATA / "vn" / "hcmc_cctv"
STOCK = SHARED_DATA / "yolox_nano.onnx"


def need_torch():
    try:
        import onnx  # noqa: F401
        import torch
    except ImportError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{exc.name} is missing in CI: .ci/run installs the train extra (pip install -e '.[test,train]')")
        pytest.skip(f"{exc.name} not installed (pip install -e '.[train]')")
    torch.set_num_threads(2)
    return torch


@pytest.fixture(scope="session")
def hcmc() -> Path:
    if not (HCMC / "labels").is_dir():
        pytest.fail(f"real test data missing: {HCMC} (see shared/data/README.md)")
    return HCMC


@pytest.fixture(scope="session")
def stock() -> Path:
    if not STOCK.is_file():
        pytest.fail(f"real test data missing: {STOCK}")
    return STOCK


def small_copy(src: Path, dst: Path, per_camera: dict[str, int]) -> Path:
    """A VOC folder of links to the first N labelled images of each camera named."""
    (dst / "images").mkdir(parents=True)
    (dst / "labels").mkdir()
    (dst / "classes.txt").write_text((src / "classes.txt").read_text())
    for cam, n in per_camera.items():
        names = sorted(p.stem for p in (src / "labels").glob(f"{cam}_*.xml"))[:n]
        for stem in names:
            (dst / "images" / f"{stem}.jpg").symlink_to(src / "images" / f"{stem}.jpg")
            (dst / "labels" / f"{stem}.xml").symlink_to(src / "labels" / f"{stem}.xml")
    return dst
