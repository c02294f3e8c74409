"""Licence plates: find, read and validate Vietnamese plates in vehicle crops.

    from analytics.plates import build_plate_reader, read_track
    reader = build_plate_reader({"type": "rapidocr"})   # min_confidence 0.7 by default
    reading = reader.read(vehicle_crop)        # PlateReading; text None when unread
    event_payload.update(reading.to_payload())

Modules: `reader` (the `PlateReader` stage and its config union), `ocr`
(RapidOCR's PaddleOCR models with per-character probabilities), `locate`
(plate hypotheses), `grammar` and `provinces` (Vietnamese plate formats and
codes), `colour`, `quality` (best frames of a track), `synth` (plate generator).
"""

from contract.plates.grammar import PlateText, correct_rows, is_valid_plate, merge_rows, normalise, parse_plate
from contract.plates.provinces import Province, province_for
from analytics.plates.reader import (
    PlateCandidate,
    PlateReader,
    PlateReaderConfig,
    PlateReading,
    RapidOCRPlateReader,
    RapidOCRPlateReaderConfig,
    build_plate_reader,
    combine_readings,
    plate_closeup,
    plate_region,
    read_track,
    read_vehicle,
)

__all__ = [
    "PlateCandidate",
    "PlateReader",
    "PlateReaderConfig",
    "PlateReading",
    "PlateText",
    "Province",
    "RapidOCRPlateReader",
    "RapidOCRPlateReaderConfig",
    "build_plate_reader",
    "combine_readings",
    "correct_rows",
    "is_valid_plate",
    "merge_rows",
    "normalise",
    "parse_plate",
    "plate_closeup",
    "plate_region",
    "province_for",
    "read_track",
    "read_vehicle",
]
