"""Plate colour, best-frame choice and the plate generator (no OCR here)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.plates.colour import classify_colour
from analytics.plates.exceptions import PlateCropError, PlateFormatError
from contract.plates.grammar import parse_plate
from analytics.plates.quality import best_frames, frame_quality, sharpness
from analytics.plates.synth import make_negative, make_sample, random_plate_text, render_plate, video_frames


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> list[np.ndarray]:
    return video_frames(shared_data / "highway_720p.mp4", 3, np.random.default_rng(5))


def _plate_region(sample_image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    return sample_image[max(y0, 0) : y1, max(x0, 0) : x1]


@pytest.mark.parametrize("colour", ["white", "yellow", "blue", "red"])
@pytest.mark.parametrize(("text", "kind"), [("51F-123.45", "car"), ("59-X1 123.45", "motorbike")])
def test_colour_of_rendered_and_pasted_plates(frames: list[np.ndarray], colour: str, text: str, kind: str) -> None:
    assert classify_colour(render_plate(text, colour))[0] == colour  # type: ignore[arg-type]
    rng = np.random.default_rng(11)
    sample = make_sample(frames[0], rng, kind=kind, colour=colour, plate_width=120, text=text)  # type: ignore[arg-type]
    name, confidence = classify_colour(_plate_region(sample.image, sample.quad))
    assert name == colour and 0.0 < confidence <= 1.0


def test_colour_refuses_bad_input() -> None:
    with pytest.raises(PlateCropError):
        classify_colour(np.zeros((0, 0, 3), np.uint8))


def test_sharp_and_large_frames_come_first() -> None:
    rng = np.random.default_rng(3)
    sharp = rng.integers(0, 255, (180, 240, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    small = sharp[:60, :80].copy()
    assert sharpness(sharp) > sharpness(blurred)
    assert frame_quality(sharp) > frame_quality(small)
    # a small sharp crop beats a large one blurred past reading
    assert best_frames([blurred, small, sharp], k=5) == [2, 1, 0]


@pytest.mark.parametrize("kind", ["car", "motorbike"])
def test_generated_texts_are_valid_plates(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        plate = parse_plate(random_plate_text(rng, kind))  # type: ignore[arg-type]
        assert plate.vehicle == kind


@pytest.mark.parametrize(
    ("text", "ratio"), [("51F-123.45", 520 / 110), ("59-X1 123.45", 190 / 140), ("51C\n123.45", 330 / 165)]
)
def test_render_plate_proportions(text: str, ratio: float) -> None:
    img = render_plate(text, "white", px_per_mm=0.5)
    assert img.dtype == np.uint8 and img.shape[1] / img.shape[0] == pytest.approx(ratio, rel=0.03)


def test_sample_puts_the_plate_inside_the_crop(frames: list[np.ndarray]) -> None:
    sample = make_sample(frames[1], np.random.default_rng(2), kind="car", colour="yellow", plate_width=100)
    h, w = sample.image.shape[:2]
    assert sample.quad is not None and (sample.quad >= 0).all() and (sample.quad[:, 0] < w).all()
    assert (sample.quad[:, 1] < h).all() and 80 < np.ptp(sample.quad[:, 0]) < 125
    negative = make_negative(frames[1], np.random.default_rng(2), kind="car", plate_width=100)
    assert negative.text is None and negative.image.shape[1] >= 200


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"frame": np.zeros((10, 10), np.uint8)}, PlateCropError),
        ({"plate_width": 5}, PlateCropError),
        ({"text": "13A-123.45"}, PlateFormatError),
    ],
)
def test_sample_refuses_bad_input(frames: list[np.ndarray], kwargs: dict, error: type[Exception]) -> None:
    args = {"frame": frames[0], "kind": "car", "colour": "white", "plate_width": 100} | kwargs
    with pytest.raises(error):
        make_sample(args.pop("frame"), np.random.default_rng(0), **args)
