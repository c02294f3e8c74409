"""The RapidOCR plate reader on generated plates in real frames (a handful of OCR calls)."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from analytics.plates.exceptions import PlateCropError
from analytics.plates.reader import (
    PlateReading,
    RapidOCRPlateReader,
    RapidOCRPlateReaderConfig,
    build_plate_reader,
    read_track,
)
from analytics.plates.synth import make_negative, make_sample, video_frames


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> list[np.ndarray]:
    rng = np.random.default_rng(42)
    return video_frames(shared_data / "highway_720p.mp4", 2, rng) + video_frames(
        shared_data / "street_crossing_320p.mp4", 2, rng
    )


@pytest.fixture(scope="module")
def reader() -> RapidOCRPlateReader:
    return RapidOCRPlateReader(RapidOCRPlateReaderConfig())


@pytest.mark.parametrize(
    ("text", "kind", "colour", "width"),
    [
        ("51F-123.45", "car", "white", 120),
        ("29A-1234", "car", "yellow", 100),
        ("80LD-052.17", "car", "blue", 150),
        ("59-X1 123.45", "motorbike", "white", 100),
        ("29-B1 678.90", "motorbike", "yellow", 90),
    ],
)
def test_reads_generated_plates_exactly(
    reader: RapidOCRPlateReader, frames: list[np.ndarray], text: str, kind: str, colour: str, width: int
) -> None:
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    frame = frames[len(text) % len(frames)]
    sample = make_sample(frame, rng, kind=kind, colour=colour, plate_width=width, text=text)  # type: ignore[arg-type]
    reading = reader.read(sample.image)
    assert reading.text == text, (reading.raw_rows, reading.candidates)
    assert reading.read and reading.confidence >= 0.5
    assert reading.colour == colour
    assert reading.candidates[0].text == text
    payload = reading.to_payload()
    assert payload["plate"] == text and payload["plate_province_code"] == text[:2]


def test_below_threshold_is_unread_but_keeps_candidates(reader: RapidOCRPlateReader, frames: list[np.ndarray]) -> None:
    sample = make_sample(
        frames[0], np.random.default_rng(1), kind="car", colour="white", plate_width=110, text="51F-123.45",
        blur=(1.2, 1.2),
    )
    seen = reader.read(sample.image)
    assert seen.text == "51F-123.45" and seen.confidence < 1.0
    # the same crop, with the bar just above what it scored: unread, nothing guessed, candidates kept
    above = RapidOCRPlateReaderConfig(min_confidence=min(1.0, seen.confidence + 0.01))
    strict = RapidOCRPlateReader(above, models=reader.models)
    reading = strict.read(sample.image)
    assert reading.text is None and not reading.read and reading.plate is None
    assert reading.to_payload()["plate"] is None and reading.to_payload()["plate_province"] is None
    # the retries (wider rows, the contour finder) ran too, and still found the truth best, below the bar
    assert reading.candidates[0].text == "51F-123.45"
    assert reading.candidates[0].confidence < above.min_confidence


def test_blurred_past_reading_is_unread_not_guessed(reader: RapidOCRPlateReader, frames: list[np.ndarray]) -> None:
    sample = make_sample(frames[1], np.random.default_rng(4), kind="motorbike", colour="white", plate_width=70,
                         text="59-X1 123.45")
    smeared = cv2.GaussianBlur(sample.image, (0, 0), 4.0)
    assert reader.read(smeared).text is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_plate_no_read(reader: RapidOCRPlateReader, frames: list[np.ndarray], seed: int) -> None:
    negative = make_negative(frames[seed], np.random.default_rng(seed), kind="car", plate_width=150)
    assert reader.read(negative.image).text is None


@pytest.mark.parametrize(
    "crop",
    [np.zeros((100, 100), np.uint8), np.zeros((100, 100, 3), np.float32), np.zeros((5, 100, 3), np.uint8), "image"],
)
def test_bad_crop_is_a_clear_error(reader: RapidOCRPlateReader, crop: object) -> None:
    with pytest.raises(PlateCropError):
        reader.read(crop)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "config",
    [{"type": "tesseract"}, {"type": "rapidocr", "min_confidence": 1.5}, {"type": "rapidocr", "colour": True}],
)
def test_config_union_rejects_unknown(config: dict) -> None:
    with pytest.raises(ValidationError):
        build_plate_reader(config)


def test_read_track_votes_over_the_best_frames(reader: RapidOCRPlateReader, frames: list[np.ndarray]) -> None:
    rng = np.random.default_rng(9)
    good = make_sample(frames[2], rng, kind="car", colour="white", plate_width=140, text="30A-456.78").image
    blurred = cv2.GaussianBlur(good, (0, 0), 5.0)
    reading = read_track(reader, [blurred, good, blurred], k=1)
    assert isinstance(reading, PlateReading) and reading.text == "30A-456.78"


def test_read_track_does_not_pick_between_disagreeing_frames(reader: RapidOCRPlateReader, frames: list[np.ndarray]) -> None:
    rng = np.random.default_rng(10)
    one = make_sample(frames[0], rng, kind="car", colour="white", plate_width=140, text="30A-456.78").image
    other = make_sample(frames[0], rng, kind="car", colour="white", plate_width=140, text="51G-111.22").image
    reading = read_track(reader, [one, other], k=2)
    assert reading.text is None
    assert {c.text for c in reading.candidates[:2]} == {"30A-456.78", "51G-111.22"}
