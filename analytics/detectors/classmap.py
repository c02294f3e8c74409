"""Class names of a detection model, read from the model itself or a side file installed with it.

A detector never assumes a data set: the names come, in this order, from

1. the file named by the config (``class_map``),
2. the ONNX model's metadata: key ``classes`` holding a JSON list in output order (what
   ``ioc models train`` writes), or Ultralytics' ``names`` (a ``{0: 'person', ...}`` dict),
3. a side file beside the model: ``<model stem>.classes.json`` (a JSON list) or
   ``<model stem>.classes.txt`` (one name per line), which ``ioc models install|fetch``
   writes for the stock COCO YOLOX-Nano.

Example::

    names = read_class_map(Path("models/yolox_nano.onnx"), metadata={}, explicit=None)
    names[:4]    # ['person', 'bicycle', 'car', 'motorcycle']
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from analytics.exceptions import ModelError

METADATA_KEY = "classes"


def side_files(model: Path) -> list[Path]:
    """Where a model's side class map may lie, in the order they are tried."""
    return [model.with_name(model.stem + ".classes.json"), model.with_name(model.stem + ".classes.txt")]


def parse_class_list(text: str, source: str) -> list[str]:
    """Names from a JSON list, a ``{index: name}`` dict (JSON or Python literal) or lines of text."""
    text = text.strip()
    value: object
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text) if text[:1] in "[{" else None
        except (ValueError, SyntaxError):
            value = None
        if value is None:
            value = [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(value, dict):
        try:
            items = sorted((int(k), v) for k, v in value.items())
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{source}: class map keys must be output indices") from exc
        if [k for k, _ in items] != list(range(len(items))):
            raise ModelError(f"{source}: class map indices must run 0..{len(items) - 1}")
        value = [v for _, v in items]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ModelError(f"{source}: a class map must be a non-empty list of names")
    return [v.strip() for v in value]


def read_class_map(model: Path, metadata: dict[str, str], explicit: Path | None = None) -> tuple[list[str], str]:
    """The model's class names in output order, and where they were found; ModelError if nowhere."""
    if explicit is not None:
        if not explicit.is_file():
            raise ModelError(f"class map {explicit} does not exist")
        return parse_class_list(explicit.read_text(encoding="utf-8"), str(explicit)), str(explicit)
    if METADATA_KEY in metadata:
        return parse_class_list(metadata[METADATA_KEY], f"{model.name} metadata"), "metadata"
    if "names" in metadata:
        return parse_class_list(metadata["names"], f"{model.name} metadata"), "metadata"
    for side in side_files(model):
        if side.is_file():
            return parse_class_list(side.read_text(encoding="utf-8"), str(side)), str(side)
    raise ModelError(
        f"{model.name}: no class names: the model has no '{METADATA_KEY}' metadata and there is no "
        f"{side_files(model)[0].name} beside it (install it with `ioc models install`/`fetch`, "
        f"or set detector.class_map)"
    )
