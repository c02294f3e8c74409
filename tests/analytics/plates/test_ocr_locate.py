"""CTC decoding over the plate alphabet, and grouping of text lines into plate hypotheses."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.plates.locate import find_text_blocks, from_blocks, from_text_lines, split_at, union_quad
from analytics.plates.ocr import OTHER, PLATE_CHARS, Line, PaddleOCRModels
from analytics.plates.synth import render_plate, video_frames

SYMBOLS = ["", *PLATE_CHARS, OTHER]


@pytest.fixture(scope="module")
def models() -> PaddleOCRModels:
    return PaddleOCRModels()


def _probs(steps: list[dict[str, float]]) -> np.ndarray:
    """A (T, S) matrix; each step names its symbols' probabilities, the rest goes to blank."""
    out = np.zeros((len(steps), len(SYMBOLS)), np.float32)
    for t, step in enumerate(steps):
        for sym, p in step.items():
            out[t, SYMBOLS.index(sym)] = p
        out[t, 0] = 1.0 - sum(step.values())
    return out


@pytest.mark.parametrize(
    ("steps", "text"),
    [
        ([{"5": 0.9}, {"5": 0.95}, {}, {"1": 0.9}], "51"),  # repeats collapse
        ([{"1": 0.9}, {}, {"1": 0.9}], "11"),  # a blank separates a real double
        ([{}, {}, {}], ""),
        ([{"8": 0.6, "B": 0.3}, {"-": 0.9}, {OTHER: 0.8}], "8-?"),
    ],
)
def test_ctc_decoding(models: PaddleOCRModels, steps: list[dict[str, float]], text: str) -> None:
    chars = models.decode(_probs(steps))
    assert "".join(c[0][0] for c in chars) == text


def test_decoding_keeps_alternatives_at_the_peak(models: PaddleOCRModels) -> None:
    chars = models.decode(_probs([{"8": 0.5, "B": 0.4}, {"8": 0.7, "B": 0.2}]))
    assert len(chars) == 1
    assert chars[0][0] == ("8", pytest.approx(0.7)) and chars[0][1] == ("B", pytest.approx(0.2))


def test_model_dictionary_folds_into_plate_symbols(models: PaddleOCRModels) -> None:
    merge = models._merge  # every model column goes to exactly one plate symbol
    assert merge.shape[1] == len(SYMBOLS) and (merge.sum(axis=1) == 1).all()
    assert merge[:, SYMBOLS.index(OTHER)].sum() > 6000  # the Chinese dictionary is "other"


def test_recognises_a_rendered_row(models: PaddleOCRModels) -> None:
    row = render_plate("51F-123.45", "white", px_per_mm=0.5)  # 260 x 55 px, border included
    chars = models.recognise([models.rectify(row, np.array([[0, 0], [259, 0], [259, 54], [0, 54]], np.float32))])[0]
    assert "".join(c[0][0] for c in chars) == "51F-123.45"
    assert min(c[0][1] for c in chars) > 0.9


def _line(x0: float, y0: float, x1: float, y1: float) -> Line:
    return Line(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32))


def test_two_stacked_lines_make_a_two_row_hypothesis() -> None:
    hyps = from_text_lines([_line(10, 60, 90, 85), _line(12, 30, 88, 55)])
    two_rows = [h for h in hyps if len(h.rows) == 2]
    assert len(two_rows) == 1
    top, bottom = two_rows[0].rows
    assert top[:, 1].mean() < bottom[:, 1].mean()  # top row first, whatever the detector's order


def test_neighbours_on_one_line_merge_and_far_lines_do_not() -> None:
    merged = [h for h in from_text_lines([_line(10, 10, 60, 30), _line(66, 10, 130, 30)]) if np.ptp(h.rows[0][:, 0]) > 100]
    assert len(merged) == 1
    apart = from_text_lines([_line(10, 10, 60, 30), _line(300, 200, 360, 220)])
    assert all(len(h.rows) == 1 and np.ptp(h.rows[0][:, 0]) < 100 for h in apart)


def test_squat_line_is_also_tried_as_two_rows() -> None:
    hyps = from_text_lines([_line(0, 0, 80, 60)])
    assert sorted(len(h.rows) for h in hyps) == [1, 2]


def test_quad_helpers() -> None:
    q = np.array([[0, 0], [100, 0], [100, 40], [0, 40]], np.float32)
    top, bottom = split_at(q, 0.25)
    assert top[2, 1] == pytest.approx(10) and bottom[0, 1] == pytest.approx(10)
    u = union_quad([q, q + [0, 50]])
    assert u[0].tolist() == pytest.approx([0, 0]) and u[2].tolist() == pytest.approx([100, 90])


def test_contour_finder_finds_a_plate_on_a_real_frame(shared_data: Path) -> None:
    frame = video_frames(shared_data / "highway_720p.mp4", 1, np.random.default_rng(0))[0][200:440, 300:660].copy()
    plate = cv2.resize(render_plate("59-X1 123.45", "white"), (110, 81), interpolation=cv2.INTER_AREA)
    frame[120:201, 120:230] = plate
    blocks = find_text_blocks(frame)
    assert blocks, "no block found"
    centres = [b.mean(axis=0) for b in blocks]
    assert any(120 < cx < 230 and 120 < cy < 201 for cx, cy in centres)
    assert any(len(h.rows) == 2 for h in from_blocks(frame, blocks))
