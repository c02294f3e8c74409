"""ONNX export in the stock YOLOX layout, with the class names and training record inside.

Input ``images`` 1x3xHxW float32 BGR 0-255 (letterboxed top-left, pad 114); output
1 x anchors x (5 + classes): cx, cy grid offsets, log w, h, objectness and class
scores sigmoided. ``metadata_props``: ``classes`` (JSON list, output order) and
``ioc.training`` (JSON: data, cameras, held-out camera, epochs, input size, figures).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path


def export_onnx(model, out: Path, input_hw: tuple[int, int], classes: list[str], training: dict | None = None,
                opset: int = 13) -> Path:
    """Write ``model`` (eval mode) to ``out`` atomically (temporary name, then rename)."""
    import onnx
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".export-", suffix=".onnx")
    os.close(fd)
    try:
        # The legacy TorchScript exporter on purpose: the dynamo one needs onnxscript,
        # one more package for the train extra, for a static network it gains nothing on.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (torch.zeros(1, 3, *input_hw),), tmp, input_names=["images"],
                              output_names=["output"], opset_version=opset, dynamo=False)
        m = onnx.load(tmp)
        meta = {"classes": json.dumps(list(classes))}
        if training is not None:
            meta["ioc.training"] = json.dumps(training, sort_keys=True)
        del m.metadata_props[:]
        for k, v in meta.items():
            m.metadata_props.add(key=k, value=v)
        m.producer_name = "ioc.training"
        onnx.checker.check_model(m)
        onnx.save(m, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def read_metadata(path: Path) -> dict:
    """``classes`` and ``ioc.training`` from an exported file (through onnxruntime: no torch needed)."""
    import onnxruntime as ort

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    out = {}
    if "classes" in meta:
        out["classes"] = json.loads(meta["classes"])
    if "ioc.training" in meta:
        out["training"] = json.loads(meta["ioc.training"])
    return out
