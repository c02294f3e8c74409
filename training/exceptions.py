"""Errors of the training package.

    TrainingError              base; bad input gets one of these and changes nothing
    ├── DatasetError           missing folder, no labels, unknown class, empty split
    ├── WeightsError           the ONNX file does not fit YOLOX-Nano
    └── TrainExtraMissing      torch / onnx not installed (``pip install 'ioc[train]'``)
"""

from __future__ import annotations


class TrainingError(Exception):
    """Base of the training errors."""


class DatasetError(TrainingError):
    """The data folder cannot be trained on as given."""


class WeightsError(TrainingError):
    """The starting ONNX model cannot be mapped onto YOLOX-Nano."""


class TrainExtraMissing(TrainingError):
    """PyTorch or onnx is missing: install the ``train`` extra."""
