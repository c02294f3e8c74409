"""RapidOCR's PaddleOCR models, used piecewise: text-line detection and per-character probabilities.

RapidOCR's own pipeline returns one greedy string per line. Plates need more:
the recogniser's probabilities for every character (so the grammar can choose a
digit where a digit belongs, and so alternatives can be kept), and control over
the scale given to the detector. So this module calls RapidOCR's detector and
the recogniser's ONNX session directly and does the CTC decoding itself over a
plate alphabet.

Example::

    >>> ocr = PaddleOCRModels()
    >>> rows = ocr.recognise([line_image])        # doctest: +SKIP
    >>> rows[0][0]                                 # doctest: +SKIP
    [('5', 0.998), ('S', 0.001)]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from analytics.plates.exceptions import PlateModelError
from contract.plates.grammar import CharChoices


PLATE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-."
OTHER = "?"
"""Stands for every symbol of the model's 6,600-character dictionary that cannot be on a plate."""

# dictionary symbols that are the same mark as a plate separator
_SEPARATOR_ALIASES = {"-": "-–—－_一~", ".": ".,·．。:;'`"}
REC_HEIGHT = 48
REC_BATCH = 8


@dataclass(frozen=True)
class Line:
    """A detected text line: its four corners (tl, tr, br, bl) in the image given to `detect`."""

    quad: np.ndarray

    @property
    def box(self) -> tuple[float, float, float, float]:
        xs, ys = self.quad[:, 0], self.quad[:, 1]
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())

    @property
    def height(self) -> float:
        return float((np.linalg.norm(self.quad[3] - self.quad[0]) + np.linalg.norm(self.quad[2] - self.quad[1])) / 2)

    @property
    def width(self) -> float:
        return float((np.linalg.norm(self.quad[1] - self.quad[0]) + np.linalg.norm(self.quad[2] - self.quad[3])) / 2)


class PaddleOCRModels:
    """The text detector and recogniser shipped in the ``rapidocr_onnxruntime`` wheel.

    RapidOCR's detector keeps per-call state, so give each thread its own instance.

    Example::

        >>> ocr = PaddleOCRModels(threads=1)
        >>> lines = ocr.detect(crop)                   # doctest: +SKIP
        >>> rows = ocr.recognise([ocr.rectify(crop, l.quad) for l in lines])   # doctest: +SKIP
    """

    def __init__(
        self, *, threads: int = 1, det_box_thresh: float = 0.5, det_unclip: float = 1.6, min_rec_width: int = 0
    ) -> None:
        # PaddleOCR pads lines to at least 320 px; padding only to the batch's longest line read the
        # benchmark plates as well for 15 % less CPU (bench.plates)
        self.min_rec_width = min_rec_width
        try:
            from rapidocr_onnxruntime import RapidOCR

            engine = RapidOCR(
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
                det_box_thresh=det_box_thresh,
                det_unclip_ratio=det_unclip,
            )
        except Exception as exc:  # onnxruntime and the wheel raise many kinds
            raise PlateModelError(f"cannot load RapidOCR's ONNX models: {exc}") from exc
        self._det = engine.text_det
        # `detect` scales images itself; the detector then only rounds sides to multiples of 32
        self._det.limit_type = "max"
        self._det.limit_side_len = 100_000
        self._rec_session = engine.text_rec.session
        chars: list[str] = list(engine.text_rec.postprocess_op.character)
        columns = self._column_map(chars)
        # summing columns into plate symbols is one matrix product with a 0/1 matrix
        self._merge = np.zeros((len(chars), 2 + len(PLATE_CHARS)), np.float32)
        self._merge[np.arange(len(chars)), columns] = 1.0
        self.symbols = ["", *PLATE_CHARS, OTHER]  # index 0 is the CTC blank

    @staticmethod
    def _column_map(chars: list[str]) -> np.ndarray:
        """For every column of the model's output, the index of the plate symbol it counts towards."""
        symbols = ["", *PLATE_CHARS, OTHER]
        index = {s: i for i, s in enumerate(symbols)}
        out = np.full(len(chars), index[OTHER], np.int64)
        out[0] = 0  # blank
        for col, ch in enumerate(chars):
            if col == 0:
                continue
            up = ch.upper() if len(ch) == 1 else ch
            if up in index and up not in ("", OTHER):
                out[col] = index[up]
            else:
                for sep, aliases in _SEPARATOR_ALIASES.items():
                    if ch in aliases:
                        out[col] = index[sep]
        return out

    def detect(self, image: np.ndarray, *, side: int = 640) -> list[Line]:
        """Text lines in ``image``; the detector sees it scaled so that its longer side is ``side``."""
        h, w = image.shape[:2]
        scale = side / max(h, w)
        interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        img = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)
        try:
            boxes, _elapsed = self._det(img)
        except Exception as exc:
            raise PlateModelError(f"text detector failed: {exc}") from exc
        if boxes is None or len(boxes) == 0:
            return []
        return [Line(np.asarray(b, np.float32) / scale) for b in boxes]

    @staticmethod
    def rectify(image: np.ndarray, quad: np.ndarray, *, pad_x: float = 0.15, pad_y: float = 0.08) -> np.ndarray:
        """The quadrilateral ``quad`` of ``image`` cut out, straightened and scaled to the recogniser's height.

        The quad grows by ``pad_x`` of its height at each end (a detector box that clips the first
        or last character loses the plate) and by ``pad_y`` of its height above and below.
        """
        q = np.asarray(quad, np.float32).copy()
        u = (q[1] - q[0]) / max(float(np.linalg.norm(q[1] - q[0])), 1e-3)
        v = (q[3] - q[0]) / max(float(np.linalg.norm(q[3] - q[0])), 1e-3)
        height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
        dx, dy = u * pad_x * height, v * pad_y * height
        q += np.array([-dx - dy, dx - dy, dx + dy, -dx + dy], np.float32)
        w = max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3]))
        h = max(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1]))
        out_h = REC_HEIGHT
        out_w = max(8, int(round(w / max(h, 1.0) * out_h)))
        dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
        m = cv2.getPerspectiveTransform(q, dst)
        return cv2.warpPerspective(image, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

    def probabilities(self, lines: list[np.ndarray]) -> list[np.ndarray]:
        """Per line, a (T, 1 + len(PLATE_CHARS) + 1) matrix: blank, plate symbols, everything else."""
        widths = [max(8, int(round(img.shape[1] * REC_HEIGHT / img.shape[0]))) for img in lines]
        out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(lines)
        # lines of similar width share a batch, so little of a batch is padding
        order = sorted(range(len(lines)), key=lambda i: widths[i])
        for start in range(0, len(order), REC_BATCH):
            chunk = order[start : start + REC_BATCH]
            max_w = max(max(widths[i] for i in chunk), self.min_rec_width)
            batch = np.zeros((len(chunk), 3, REC_HEIGHT, max_w), np.float32)
            for row, i in enumerate(chunk):
                resized = cv2.resize(lines[i], (widths[i], REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
                batch[row, :, :, : widths[i]] = (resized.transpose(2, 0, 1).astype(np.float32) / 255.0 - 0.5) / 0.5
            try:
                preds = self._rec_session(batch)[0]
            except Exception as exc:
                raise PlateModelError(f"text recogniser failed: {exc}") from exc
            for row, i in enumerate(chunk):
                steps = max(1, int(np.ceil(preds.shape[1] * widths[i] / max_w)))  # drop the padding's time steps
                out[i] = preds[row, :steps] @ self._merge
        return out

    def decode(self, probs: np.ndarray, *, alternatives: int = 3) -> list[CharChoices]:
        """Greedy CTC decoding that keeps, for each emitted character, its best alternatives."""
        best = probs.argmax(axis=1)
        chars: list[CharChoices] = []
        t = 0
        while t < len(best):
            sym = best[t]
            if sym == 0:
                t += 1
                continue
            end = t
            while end + 1 < len(best) and best[end + 1] == sym:
                end += 1
            # the time step where the model is surest of this character stands for the whole run
            peak = t + int(probs[t : end + 1, sym].argmax())
            row = probs[peak].copy()
            row[0] = 0.0
            order = np.argsort(-row)[:alternatives]
            chars.append([(self.symbols[j], float(row[j])) for j in order if row[j] > 1e-4])
            t = end + 1
        return chars

    def recognise(self, lines: list[np.ndarray]) -> list[list[CharChoices]]:
        """Per line image, its characters with alternatives (separators included)."""
        return [self.decode(p) for p in self.probabilities(lines)]
