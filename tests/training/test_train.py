"""One short epoch on a few real HCMC frames, exported, loaded back and detecting."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.training.conftest import need_torch, small_copy
from training.augment import letterbox
from analytics.evaluation import box_iou
from training.evaluate import decode_np

INPUT_HW = (288, 512)  # the HCMC snapshots' own size: no letterbox padding, the fastest test


@pytest.fixture(scope="module")
def trained(hcmc, stock, tmp_path_factory):
    need_torch()
    from training.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("train")
    data = small_copy(hcmc, tmp / "data", {"20232": 16, "20234": 4})
    cfg = TrainConfig(data=data, base=stock, holdout="20234", epochs=1, batch=4, input_hw=INPUT_HW,
                      lr=2e-5, eval_every=1)  # one short epoch: a gentle step, the test checks the plumbing
    lines: list[str] = []
    result = train(cfg, tmp / "model.onnx", progress=lines.append)
    return result, lines


def test_progress_and_figures(trained):
    result, lines = trained
    assert any(line.startswith("epoch 1/1:") for line in lines)
    assert "held-out 20234" in "\n".join(lines)
    assert result.cameras == ["20232"] and result.holdout == "20234" and result.train_images == 16
    assert set(result.figures["classes"]) == {"motorbike", "truck", "bus", "car"}
    assert result.figures_before["all"]["gt"] == result.figures["all"]["gt"] > 0


def test_export_layout_and_metadata(trained):
    result, _ = trained
    sess = ort.InferenceSession(str(result.out), providers=["CPUExecutionProvider"])
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    anchors = sum((INPUT_HW[0] // s) * (INPUT_HW[1] // s) for s in (8, 16, 32))
    assert inp.name == "images" and inp.shape == [1, 3, *INPUT_HW]
    assert out.shape == [1, anchors, 9]
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["motorbike", "truck", "bus", "car"]
    record = json.loads(meta["ioc.training"])
    assert record["holdout"] == "20234" and record["cameras"] == ["20232"] and record["epochs"] == 1
    assert record["input_size"] == list(INPUT_HW) and "recall" in record["figures"]["all"]
    onnx.checker.check_model(onnx.load(str(result.out)))


def _training_image(hcmc):
    return cv2.imread(str(hcmc / "images" / "20232_1.jpg"))  # 5 cars, 2 motorbikes, in the training set


def test_onnxruntime_detects_on_a_training_image(trained, hcmc):
    result, _ = trained
    sess = ort.InferenceSession(str(result.out), providers=["CPUExecutionProvider"])
    img = _training_image(hcmc)
    boxed, r = letterbox(img, INPUT_HW)
    raw = sess.run(None, {"images": boxed.transpose(2, 0, 1)[None].astype(np.float32)})[0][0]
    assert 0 <= raw[:, 4:].min() and raw[:, 4:].max() <= 1  # scores come sigmoided
    boxes, scores, cls = decode_np(raw, INPUT_HW, confidence=0.3)
    boxes = boxes / r
    assert len(boxes) >= 2
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    assert (boxes >= -2).all() and (boxes[:, 2] <= 514).all() and (boxes[:, 3] <= 290).all()
    gt = np.array([[239, 172, 316, 232], [325, 101, 358, 131], [149, 108, 217, 138]], np.float32)  # three cars
    best = box_iou(gt, boxes).max(1)
    assert (best >= 0.5).sum() >= 2, best


def test_export_reproduces_torch(stock, hcmc, tmp_path):
    torch = need_torch()
    from training.export import export_onnx
    from training.onnx_weights import load_yolox_nano

    model = load_yolox_nano(stock, ["motorbike", "car", "truck", "bus"]).eval()
    out = export_onnx(model, tmp_path / "m.onnx", (384, 640), ["motorbike", "car", "truck", "bus"])
    boxed, _ = letterbox(_training_image(hcmc), (384, 640))
    x = boxed.transpose(2, 0, 1)[None].astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 5040, 9) and np.abs(got - ref).max() < 1e-3


def test_the_edge_detector_reads_it(trained, hcmc):
    """The product's detector takes the exported file as it is: class names from its metadata."""
    from analytics.classes import CLASS_IDS
    from analytics.detectors import YoloxConfig
    from analytics.detectors.yolox import YoloxDetector

    result, _ = trained
    det = YoloxDetector(YoloxConfig(model=result.out))
    assert det.model_classes == ["motorbike", "truck", "bus", "car"] and det.class_source == "metadata"
    assert det.input_hw == INPUT_HW
    found = det.detect(_training_image(hcmc))
    assert len(found) >= 2
    assert set(found.class_id.tolist()) <= {CLASS_IDS[c] for c in ("motorbike", "truck", "bus", "car")}
    assert CLASS_IDS["car"] in found.class_id.tolist()
