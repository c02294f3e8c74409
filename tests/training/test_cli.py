"""`ioc models train|install|list` for trained models, and the CLI without PyTorch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT
from tests.training.conftest import need_torch, small_copy


@pytest.fixture()
def app():
    from ioc.cli import _register_all, app

    _register_all()
    return app


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "ioc-data"
    monkeypatch.setenv("IOC_DATA_DIR", str(d))
    return d


def _run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("args,message", [
    (["{missing}", "--out", "m"], "no such folder"),
    (["{data}", "--out", "m"], "not in classes.txt"),  # classes.txt lists car only
    (["{data}", "--out", "m", "--ignore-unknown", "--holdout", "2099"], "held-out camera '2099' not in the data"),
    (["{data}", "--out", "m", "--ignore-unknown", "--camera-pattern", r"^(\d)"], "one camera only"),
    (["{data}", "--out", "yolox-nano"], "stock model's"),
    (["{data}", "--out", "Bad Name"], "model name"),
    (["{data}", "--out", "m", "--ignore-unknown", "--input-size", "300x500"], "multiples of 32"),
    (["{data}", "--out", "m", "--ignore-unknown", "--base", "{missing}"], "starting model not found"),
])
def test_bad_input_changes_nothing(app, data_dir, tmp_path, hcmc, stock, args, message):
    data = small_copy(hcmc, tmp_path / "d", {"20232": 2, "20234": 1})
    (data / "classes.txt").write_text("car\n")
    subst = {"{missing}": str(tmp_path / "missing"), "{data}": str(data)}
    args = [subst.get(a, a) for a in args]
    if "--base" not in args:
        args += ["--base", str(stock)]
    result = _run(app, "models", "train", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not data_dir.exists()


def test_train_install_list(app, data_dir, tmp_path, hcmc, stock):
    need_torch()
    data = small_copy(hcmc, tmp_path / "d", {"20232": 8, "20234": 2})
    result = _run(app, "models", "train", data, "--out", "hcmc-test", "--epochs", "1", "--input-size", "192x320",
                  "--batch", "4", "--base", stock)
    assert result.exit_code == 0, result.output
    assert "epoch 1/1:" in result.output and "held-out 20234" in result.output
    model = data_dir / "models" / "hcmc-test.onnx"
    card = json.loads((data_dir / "models" / "hcmc-test.card.json").read_text())
    from edge.models import sha256_file

    assert card["sha256"] == sha256_file(model) and card["classes"] == ["motorbike", "truck", "bus", "car"]
    assert card["training"]["holdout"] == "20234" and card["training"]["cameras"] == ["20232"]
    listed = _run(app, "models", "list").output
    assert "hcmc-test" in listed and "held out 20234" in listed and "motorbike R" in listed

    again = _run(app, "models", "train", data, "--out", "hcmc-test", "--base", stock)
    assert again.exit_code == 2 and "exists" in again.output

    # Carried to another machine: the file and its card install together, checked by SHA-256.
    carried = tmp_path / "usb"
    carried.mkdir()
    shutil.copy(model, carried / "hcmc-test.onnx")
    shutil.copy(data_dir / "models" / "hcmc-test.card.json", carried / "hcmc-test.card.json")
    other = tmp_path / "edge-data"
    os.environ["IOC_DATA_DIR"] = str(other)
    ok = _run(app, "models", "install", carried / "hcmc-test.onnx")
    assert ok.exit_code == 0, ok.output
    assert sha256_file(other / "models" / "hcmc-test.onnx") == card["sha256"]
    with open(carried / "hcmc-test.onnx", "ab") as fh:
        fh.write(b"\0")
    bad = _run(app, "models", "install", carried / "hcmc-test.onnx")
    assert bad.exit_code == 1 and "is not the" in bad.output
    (carried / "hcmc-test.card.json").unlink()
    bad = _run(app, "models", "install", carried / "hcmc-test.onnx")
    assert bad.exit_code == 1 and "no model card" in bad.output
    with open(other / "models" / "hcmc-test.onnx", "ab") as fh:
        fh.write(b"\0")
    assert "SHA-256 MISMATCH" in _run(app, "models", "list").output


def test_cli_without_torch(app, data_dir, tmp_path, hcmc, stock, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    data = small_copy(hcmc, tmp_path / "d", {"20232": 2, "20234": 1})
    result = _run(app, "models", "train", data, "--out", "m", "--ignore-unknown", "--base", stock)
    assert result.exit_code == 2 and "install the train extra" in result.output
    assert not data_dir.exists()
    assert _run(app, "models", "list").exit_code == 0


def test_hub_and_edge_do_not_import_torch():
    code = ("import sys; import ioc.cli as c; c._register_all(); import edge.models, training, training.train, "
            "training.dataset, training.evaluate; bad = [m for m in ('torch', 'onnx') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
