"""The stock YOLOX-Nano for benchmarks, installed as a user installs it (with its side class map)."""

from __future__ import annotations

from pathlib import Path

from edge.models import install

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
BENCH_DIR = Path(__file__).resolve().parent.parent / "var" / "bench"


def stock_yolox() -> Path:
    """``var/bench/models/yolox_nano.onnx``, installed (SHA-256 checked) from ../shared/data."""
    target = BENCH_DIR / "models" / "yolox_nano.onnx"
    if not target.with_name("yolox_nano.classes.json").is_file():
        install(DATA / "yolox_nano.onnx", base=BENCH_DIR)
    return target
