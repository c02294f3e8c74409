"""Errors raised by `analytics.plates`; they extend the tree in `analytics.exceptions`.

Tree::

    AnalyticsError                      (analytics.exceptions)
    └── PlateError                      anything this package raises
        ├── PlateCropError              a crop that is not an HxWx3 uint8 image (also FrameError)
        ├── PlateModelError             the OCR model could not be loaded or run (also ModelError)
        └── PlateFontError              no TrueType font for the plate generator

`PlateFormatError` (text that is not a Vietnamese plate) comes from `contract.exceptions`,
where the plate grammar lives; it is re-exported here.

A plate that is simply unreadable is *not* an error: the reader returns a
`PlateReading` with ``text=None``.
"""

from __future__ import annotations

from analytics.exceptions import AnalyticsError, FrameError, ModelError
from contract.exceptions import PlateFormatError  # noqa: F401  (the grammar lives in contract)


class PlateError(AnalyticsError):
    """Base of every error raised by `analytics.plates`."""


class PlateCropError(PlateError, FrameError):
    """A crop that the reader cannot take: not HxWx3 uint8, or empty."""


class PlateModelError(PlateError, ModelError):
    """RapidOCR's ONNX models could not be loaded or failed while running."""


class PlateFontError(PlateError):
    """The plate generator found no usable TrueType font."""
