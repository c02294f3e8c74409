"""Load the stock YOLOX-Nano ONNX weights into `training.model.YoloxNano`.

The ONNX graph is a trace: its Conv nodes appear in the order the convolutions ran.
Running our model once with hooks gives our convolutions in the same execution order,
so the i-th ONNX Conv's (weight, bias) initializers go to our i-th conv; shapes,
strides and groups are checked on every pair, and `verify` compares the outputs.

The COCO class head (80 rows) is narrowed to the dataset's classes: each new class
row starts from the COCO row of the matching class (`COCO_SOURCE`), so the network
before training is the COCO model restricted to those classes.

Example::

    model = load_yolox_nano(Path("yolox_nano.onnx"), ["motorbike", "car", "truck", "bus"])
"""

from __future__ import annotations

from pathlib import Path

from training.exceptions import WeightsError

# New class name -> COCO class id it is initialised from.
COCO_SOURCE: dict[str, int] = {
    "person": 0, "pedestrian": 0, "bicycle": 1, "car": 2, "motorbike": 3, "motorcycle": 3,
    "bus": 5, "truck": 7, "traffic light": 9,
}


def _onnx_convs(path: Path):
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read ONNX model: {exc}") from exc
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise WeightsError(f"{path}: Conv {node.name} without initializer weight and bias")
        convs.append((inits[node.input[1]], inits[node.input[2]], attrs))
    return convs


def _torch_convs_in_order(model, input_hw=(64, 64)):
    import torch

    order = []
    hooks = [m.register_forward_hook(lambda mod, *_: order.append(mod))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_hw))
    finally:
        for h in hooks:
            h.remove()
    return order


def verify(model, path: Path, image, tolerance: float = 1e-3) -> float:
    """Largest difference between ``model`` (eval) and ONNX Runtime on ``image`` (BGR HxWx3)
    at the ONNX file's input size; `WeightsError` above ``tolerance``."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from training.augment import letterbox

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    hw = tuple(int(v) if isinstance(v, int) else 416 for v in inp.shape[2:])
    boxed, _ = letterbox(image, hw)
    x = boxed.transpose(2, 0, 1)[None].astype(np.float32)
    ref = sess.run(None, {inp.name: x})[0]
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    if got.shape != ref.shape:
        raise WeightsError(f"{path}: output {ref.shape}, the PyTorch model gives {got.shape}")
    diff = float(np.abs(got - ref).max())
    if not diff <= tolerance:
        raise WeightsError(f"{path}: the PyTorch model differs from ONNX Runtime by {diff:.2g} (> {tolerance})")
    return diff


def load_yolox_nano(path: Path, classes: list[str] | None = None, check_image=None):
    """A `YoloxNano` with the ONNX file's weights; with ``classes``, the class head narrowed
    to those names (initialised from their COCO rows); unknown names raise `WeightsError`.
    With ``check_image`` (BGR array), the loaded network is first compared with ONNX
    Runtime on it (`verify`)."""
    import torch

    from training.model import YoloxNano

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    convs = _onnx_convs(path)
    model = YoloxNano(num_classes=80)
    model.eval()
    ours = _torch_convs_in_order(model)
    if len(ours) != len(convs):
        raise WeightsError(f"{path}: {len(convs)} convolutions, YOLOX-Nano has {len(ours)}")
    with torch.no_grad():
        for i, (mod, (w, b, attrs)) in enumerate(zip(ours, convs, strict=True)):
            if tuple(mod.weight.shape) != w.shape or tuple(mod.bias.shape) != b.shape:
                raise WeightsError(f"{path}: conv {i}: ONNX {w.shape} does not fit {tuple(mod.weight.shape)}")
            if attrs.get("group", 1) != mod.groups or list(attrs.get("strides", [1, 1])) != list(mod.stride):
                raise WeightsError(f"{path}: conv {i}: groups/strides differ from YOLOX-Nano")
            mod.weight.copy_(torch.from_numpy(w.copy()))
            mod.bias.copy_(torch.from_numpy(b.copy()))
    if check_image is not None:
        verify(model, path, check_image)
    if classes is None:
        return model
    unknown = [c for c in classes if c not in COCO_SOURCE]
    if unknown:
        raise WeightsError(f"no COCO class to start {unknown} from; known: {sorted(COCO_SOURCE)}")
    rows = [COCO_SOURCE[c] for c in classes]
    with torch.no_grad():
        for level in model.head:
            old = level.cls_pred
            new = torch.nn.Conv2d(old.in_channels, len(classes), 1)
            new.weight.copy_(old.weight[rows])
            new.bias.copy_(old.bias[rows])
            level.cls_pred = new
    model.num_classes = len(classes)
    return model
