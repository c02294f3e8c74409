"""The PyTorch YOLOX-Nano with the stock ONNX weights reproduces ONNX Runtime."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from tests.conftest import SHARED_DATA
from tests.training.conftest import need_torch
from training.augment import letterbox


@pytest.mark.parametrize("image", ["vn/hcmc_cctv/images/2023_1.jpg", "dog_bicycle_truck.jpg"])
def test_torch_reproduces_onnxruntime(stock, image):
    torch = need_torch()
    from training.onnx_weights import load_yolox_nano

    model = load_yolox_nano(stock).eval()
    boxed, _ = letterbox(cv2.imread(str(SHARED_DATA / image)), (416, 416))
    x = boxed.transpose(2, 0, 1)[None].astype(np.float32)
    ref = ort.InferenceSession(str(stock), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    assert got.shape == ref.shape == (1, 3549, 85)
    assert np.abs(got - ref).max() < 1e-3
    assert ref[0, :, 4].max() > 0.5  # the picture has objects: a real comparison, not of zeros


def test_class_head_starts_from_coco_rows(stock):
    torch = need_torch()
    from training.onnx_weights import load_yolox_nano

    full = load_yolox_nano(stock).eval()
    narrow = load_yolox_nano(stock, ["motorbike", "car", "truck", "bus"]).eval()
    x = torch.from_numpy(letterbox(cv2.imread(str(SHARED_DATA / "vn/hcmc_cctv/images/20232_1.jpg")), (288, 512))[0]
                         .transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        a, b = full(x), narrow(x)
    assert b.shape[-1] == 9
    assert torch.allclose(b[..., :5], a[..., :5], atol=1e-5)
    assert torch.allclose(b[..., 5:], a[..., 5 + torch.tensor([3, 2, 7, 5])], atol=1e-5)


def test_unknown_class_has_no_coco_row(stock):
    need_torch()
    from training.exceptions import WeightsError
    from training.onnx_weights import load_yolox_nano

    with pytest.raises(WeightsError, match="no COCO class to start \\['tuk-tuk'\\]"):
        load_yolox_nano(stock, ["car", "tuk-tuk"])


def test_verify_catches_a_wrong_weight(stock):
    torch = need_torch()
    from training.exceptions import WeightsError
    from training.onnx_weights import load_yolox_nano, verify

    image = cv2.imread(str(SHARED_DATA / "vn/hcmc_cctv/images/20232_1.jpg"))
    model = load_yolox_nano(stock, check_image=image)
    assert verify(model, stock, image) < 1e-3
    with torch.no_grad():
        model.neck.backbone.dark3[0].pconv.conv.bias[0] += 1.0
    with pytest.raises(WeightsError, match="differs from ONNX Runtime"):
        verify(model, stock, image)
