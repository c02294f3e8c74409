"""`PlateReader.read(crop) -> PlateReading`: find and read the plate in a vehicle crop.

The reader is a pluggable stage (DESIGN.md convention 1): its config is a
discriminated union on ``type``; today the one implementation is ``rapidocr``,
which runs the PaddleOCR detector and recogniser shipped in RapidOCR's wheel:

1. the text detector finds text lines in the crop (scaled to ``det_side``) and
   `locate.from_text_lines` groups them into plate hypotheses of one or two
   rows; when that reads nothing, a morphology plate finder gets its turn
   (``locator``, see `locate`; the order was chosen on `bench.plates`);
2. hypotheses are kept loose on purpose: the grammar decides which one is a plate;
3. every line is recognised once, keeping per-character probabilities;
4. `grammar.correct_rows` turns each hypothesis into valid plates with scores
   (product of character probabilities, look-alikes fixed by position);
5. the best plate is reported when its confidence reaches ``min_confidence``;
   otherwise the rows are widened by one character at both ends and read once
   more (detectors sometimes clip the first glyph), and if that does not reach
   the threshold either, the reading is unread (``text=None``) with its
   candidates kept.

Example::

    >>> reader = build_plate_reader({"type": "rapidocr", "min_confidence": 0.6})
    >>> reading = reader.read(vehicle_crop)            # doctest: +SKIP
    >>> reading.text, reading.confidence, reading.colour  # doctest: +SKIP
    ('59-X1 123.45', 0.93, 'white')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, Union

import cv2
import numpy as np
from pydantic import Field, TypeAdapter

from analytics.plates.colour import classify_colour
from analytics.plates.exceptions import PlateCropError
from contract.plates.grammar import SEPARATORS, CharChoices, PlateText, correct_rows, parse_plate
from analytics.plates.locate import Hypothesis, find_text_blocks, from_blocks, from_text_lines, widen
from analytics.plates.ocr import PaddleOCRModels
from analytics.plates.quality import best_frames
from contract import ConfigModel

MIN_CROP_SIDE = 12
MIN_ROW_HEIGHT_PX = 10
"""A plate whose text rows are less tall than this (pixels of the source image) is reported unreadable:
the recogniser sees characters of about 12 px and fewer as blobs, so what it reads there is a guess
(real crops: docs/plates.md). Raise the camera's zoom, not the threshold."""
PLATE_REGION: dict[str, tuple[float, float, float, float]] = {
    # (left, top, right, bottom) as fractions of the vehicle box: where its rear or front plate can be
    "motorbike": (0.0, 0.25, 1.0, 1.0),   # under the seat / tail light, or on the front fork; a rider fills the top
    "bicycle": (0.0, 0.25, 1.0, 1.0),
    "car": (0.0, 0.3, 1.0, 1.0),          # bumper level, front or rear
    "truck": (0.0, 0.3, 1.0, 1.0),
    "bus": (0.0, 0.3, 1.0, 1.0),
}
MIN_REGION_WIDTH_PX = 24
"""A plate region narrower than this cannot hold a readable plate: it is not read at all."""


@dataclass(frozen=True)
class PlateCandidate:
    """One possible reading with its confidence (0..1)."""

    text: str
    confidence: float


@dataclass
class PlateReading:
    """What the reader saw. ``text`` is None when nothing reached the threshold: unread, never guessed.

    Example::

        >>> r = PlateReading(text=None, confidence=0.31, candidates=[PlateCandidate("51F-123.45", 0.31)])
        >>> r.read, r.to_payload()["plate"]
        (False, None)
    """

    text: str | None
    confidence: float
    candidates: list[PlateCandidate] = field(default_factory=list)
    colour: str | None = None
    colour_confidence: float = 0.0
    plate: PlateText | None = None
    quad: np.ndarray | None = None
    raw_rows: list[str] = field(default_factory=list)
    row_chars: list[list[CharChoices]] = field(default_factory=list, repr=False)
    """The recogniser's characters, with alternatives, of the rows the best plate was read from."""
    frames: int = 1
    """Crops read for this reading (more than one for a track, `read_track`)."""
    agreed: int = 1
    """Of those, how many read the same plate on their own (0 when unread)."""
    best_frame: int = 0
    """Index of the crop the plate reads best in (its close-up is the evidence); ``quad`` is in it."""
    unreadable: str | None = None
    """Why the plate was not read at all, when it was not: ``"plate too small"`` (`MIN_ROW_HEIGHT_PX`)."""

    @property
    def read(self) -> bool:
        return self.text is not None

    def to_payload(self) -> dict[str, Any]:
        """The fields an event payload carries (JSON-ready)."""
        return {
            "plate": self.text,
            "plate_confidence": round(self.confidence, 3),
            "plate_candidates": [{"text": c.text, "confidence": round(c.confidence, 3)} for c in self.candidates],
            "plate_colour": self.colour,
            "plate_province": self.plate.province.current if self.plate else None,
            "plate_province_code": self.plate.province.code if self.plate else None,
            "plate_frames": self.frames,
            "plate_frames_agreed": self.agreed,
            "plate_unreadable": self.unreadable,
        }


class PlateReader(Protocol):
    """The plate stage's interface: one core method."""

    def read(self, crop: np.ndarray) -> PlateReading: ...


class RapidOCRPlateReaderConfig(ConfigModel):
    """Config of the RapidOCR (PaddleOCR ONNX) plate reader."""

    type: Literal["rapidocr"] = "rapidocr"
    min_confidence: float = Field(
        0.7, ge=0.0, le=1.0,
        description="a plate whose best reading scores less is reported unread (0.7: no wrong read on the "
        "real crops it was tuned on, docs/benchmarks.md)",
    )
    top_k: int = Field(5, ge=1, le=20, description="how many candidate readings to keep")
    det_side: int = Field(
        480, ge=160, le=1600, description="longer side (px) of the crop as the text detector sees it"
    )
    det_box_thresh: float = Field(0.5, ge=0.05, le=0.95, description="text detector's box score threshold")
    threads: int = Field(1, ge=1, le=16, description="ONNX Runtime intra-op threads per model")
    locator: Literal["text", "contour", "text_then_contour", "contour_then_text"] = Field(
        "text_then_contour",
        description="how plates are found: PaddleOCR's text detector, a morphology finder, or one of them "
        "with the other as fallback when it reads nothing",
    )
    widen_retry: bool = Field(
        True, description="when nothing is read, look again with every text row one character longer at both ends"
    )
    allow_deletion: bool = Field(
        True,
        description="a row that fits no plate format may lose its first or last character (a border read as '1')",
    )


PlateReaderConfig = Annotated[Union[RapidOCRPlateReaderConfig], Field(discriminator="type")]
_CONFIG_ADAPTER: TypeAdapter[RapidOCRPlateReaderConfig] = TypeAdapter(PlateReaderConfig)


def _validate_crop(crop: Any) -> np.ndarray:
    if not isinstance(crop, np.ndarray) or crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        got = f"{type(crop).__name__} {getattr(crop, 'shape', '')} {getattr(crop, 'dtype', '')}".strip()
        raise PlateCropError(f"plate reader needs an HxWx3 uint8 BGR crop, got {got}")
    if min(crop.shape[:2]) < MIN_CROP_SIDE:
        raise PlateCropError(f"crop {crop.shape[1]}x{crop.shape[0]} is smaller than {MIN_CROP_SIDE} px")
    return crop


class RapidOCRPlateReader:
    """Plate reader on RapidOCR's PaddleOCR ONNX models (no download: they ship in the wheel).

    Example::

        >>> reader = RapidOCRPlateReader(RapidOCRPlateReaderConfig(min_confidence=0.6))
        >>> reading = reader.read(crop)                     # doctest: +SKIP
        >>> [(c.text, c.confidence) for c in reading.candidates][:2]   # doctest: +SKIP
        [('51F-123.45', 0.97), ('51F-128.45', 0.02)]
    """

    def __init__(self, config: RapidOCRPlateReaderConfig | None = None, *, models: PaddleOCRModels | None = None):
        self.config = config or RapidOCRPlateReaderConfig()
        self.models = models or PaddleOCRModels(threads=self.config.threads, det_box_thresh=self.config.det_box_thresh)

    def read(self, crop: np.ndarray) -> PlateReading:
        """Find and read the plate in ``crop`` (BGR uint8)."""
        crop = _validate_crop(crop)
        best = PlateReading(text=None, confidence=0.0)
        for stage in self.config.locator.split("_then_"):
            hyps = self._text_hypotheses(crop) if stage == "text" else from_blocks(crop, find_text_blocks(crop))
            reading = self._read_or_widen(crop, hyps)
            if reading.read:
                return reading
            if reading.confidence > best.confidence or not best.candidates:
                best = reading
        return best

    def _read_or_widen(self, crop: np.ndarray, hyps: list[Hypothesis]) -> PlateReading:
        reading = self._read(crop, hyps)
        if reading.read or not hyps or not self.config.widen_retry:
            return reading
        # a second look with every row one character longer at both ends, for clipped first characters
        retry = self._read(crop, [widen(h) for h in hyps])
        if not retry.row_chars:
            return reading
        if not reading.row_chars:
            return retry
        # two looks at one plate: fused like two frames, so the second cannot win on a lucky guess
        both = combine_readings([reading, retry], min_confidence=self.config.min_confidence, top_k=self.config.top_k)
        both.frames, both.best_frame = 1, 0
        both.agreed = 1 if both.read else 0
        return both

    def _text_hypotheses(self, crop: np.ndarray) -> list[Hypothesis]:
        return from_text_lines(self.models.detect(crop, side=self.config.det_side), crop)

    def _read(self, crop: np.ndarray, hyps: list[Hypothesis]) -> PlateReading:
        # every distinct row is recognised once, in one batch
        index: dict[bytes, int] = {}
        quads: list[np.ndarray] = []
        for hyp in hyps:
            for q in hyp.rows:
                if q.tobytes() not in index:
                    index[q.tobytes()] = len(quads)
                    quads.append(q)
        if not quads:
            return PlateReading(text=None, confidence=0.0)
        rows = self.models.recognise([self.models.rectify(crop, q) for q in quads])
        raw = ["".join(c[0][0] for c in r) for r in rows]
        best: dict[str, tuple[PlateText, float, Hypothesis]] = {}
        for hyp in hyps:
            chars = [rows[index[q.tobytes()]] for q in hyp.rows]
            layout = "one_row" if len(chars) == 1 else "two_row"
            found = correct_rows(chars, top_k=self.config.top_k, allow_deletion=self.config.allow_deletion, layout=layout)
            for plate, score in found:
                if score > best.get(plate.text, (None, -1.0, None))[1]:
                    best[plate.text] = (plate, score, hyp)
        ranked = sorted(best.values(), key=lambda v: -v[1])[: self.config.top_k]
        if not ranked:
            return PlateReading(text=None, confidence=0.0, raw_rows=raw)
        plate, score, hyp = ranked[0]
        colour, colour_conf = classify_colour(plate_closeup(crop, hyp.outline))
        row_height = min(_quad_height(q) for q in hyp.rows)
        too_small = row_height < MIN_ROW_HEIGHT_PX
        accepted = score >= self.config.min_confidence and not too_small
        return PlateReading(
            text=plate.text if accepted else None,
            confidence=score,
            candidates=[PlateCandidate(p.text, round(s, 4)) for p, s, _h in ranked],
            colour=colour,
            colour_confidence=colour_conf,
            plate=plate if accepted else None,
            quad=hyp.outline,
            raw_rows=[raw[index[q.tobytes()]] for q in hyp.rows],
            row_chars=[rows[index[q.tobytes()]] for q in hyp.rows],
            agreed=1 if accepted else 0,
            unreadable="plate too small" if too_small else None,
        )


def _quad_height(quad: np.ndarray) -> float:
    q = np.asarray(quad, np.float32)
    return float((np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2)


def plate_region(
    box: Sequence[float], class_name: str | None, frame_shape: Sequence[int]
) -> tuple[int, int, int, int]:
    """Where the plate of the vehicle in ``box`` (x1, y1, x2, y2) can be: the part of the box at bumper
    or fork level (`PLATE_REGION`, by the detector's class; the whole box for other classes), clipped
    to the frame, in integer pixels."""
    h, w = int(frame_shape[0]), int(frame_shape[1])
    x1, y1, x2, y2 = (float(v) for v in box)
    fl, ft, fr, fb = PLATE_REGION.get(class_name or "", (0.0, 0.0, 1.0, 1.0))
    bw, bh = x2 - x1, y2 - y1
    rx1, ry1 = max(0, int(x1 + fl * bw)), max(0, int(y1 + ft * bh))
    rx2, ry2 = min(w, int(np.ceil(x1 + fr * bw))), min(h, int(np.ceil(y1 + fb * bh)))
    return rx1, ry1, max(rx1, rx2), max(ry1, ry2)


def read_vehicle(
    reader: PlateReader, frame: np.ndarray, box: Sequence[float], class_name: str | None = None
) -> tuple[PlateReading, tuple[int, int]]:
    """Read the plate of one detected vehicle: its plate region (`plate_region`), not the whole frame.

    Returns the reading and the region's top-left corner (``reading.quad`` is relative to it).
    A region narrower than `MIN_REGION_WIDTH_PX` or too small to crop is not read: it comes back
    unread with ``unreadable="plate too small"``.
    """
    x1, y1, x2, y2 = plate_region(box, class_name, frame.shape)
    if x2 - x1 < MIN_REGION_WIDTH_PX or y2 - y1 < MIN_CROP_SIDE:
        return PlateReading(text=None, confidence=0.0, agreed=0, unreadable="plate too small"), (x1, y1)
    return reader.read(frame[y1:y2, x1:x2]), (x1, y1)

def plate_closeup(crop: np.ndarray, quad: np.ndarray, *, grow: tuple[float, float] = (1.1, 1.35)) -> np.ndarray:
    """The plate straightened out of ``crop``: its text ``quad`` grown by ``grow`` (x, y), for colour and evidence.

    The text box is grown a little sideways and more vertically because plates
    have more margin above and below their lettering than beside it.
    """
    q = np.asarray(quad, np.float32)
    centre = q.mean(axis=0)
    q = (centre + (q - centre) * np.asarray(grow, np.float32)).astype(np.float32)
    w = int(max(8, np.linalg.norm(q[1] - q[0])))
    h = int(max(8, np.linalg.norm(q[3] - q[0])))
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    return cv2.warpPerspective(crop, cv2.getPerspectiveTransform(q, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)


def build_plate_reader(config: RapidOCRPlateReaderConfig | dict[str, Any] | None = None) -> PlateReader:
    """A plate reader from its config (a model or a plain dict with a ``type`` key)."""
    if config is None:
        config = RapidOCRPlateReaderConfig()
    elif isinstance(config, dict):
        config = _CONFIG_ADAPTER.validate_python(config)
    if isinstance(config, RapidOCRPlateReaderConfig):
        return RapidOCRPlateReader(config)
    raise TypeError(f"no plate reader for config {type(config).__name__}")


def _split_row(row: Sequence[CharChoices]) -> tuple[list[CharChoices], dict[int, float]]:
    chars: list[CharChoices] = []
    seps: dict[int, float] = {}
    for c in row:
        if c and c[0][0] in SEPARATORS:
            seps[len(chars)] = seps.get(len(chars), 0.0) + sum(p for ch, p in c if ch in SEPARATORS)
        elif c:
            chars.append(c)
    return chars, seps


def fuse_rows(readings: Sequence[Sequence[Sequence[CharChoices]]]) -> list[list[CharChoices]]:
    """Per character, the mean of the recogniser's alternatives over several reads of the same rows.

    All readings must have the same number of rows and of characters per row (separators apart);
    a separator counts with its mean probability (0 where a read did not see it).
    """
    n = len(readings)
    fused: list[list[CharChoices]] = []
    for rows in zip(*readings):
        split = [_split_row(r) for r in rows]
        length = len(split[0][0])
        seps: dict[int, float] = {}
        out: list[CharChoices] = []
        for _chars, s in split:
            for pos, p in s.items():
                seps[pos] = seps.get(pos, 0.0) + p / n
        for pos in range(length + 1):
            if pos in seps:
                out.append([("-", min(1.0, seps[pos]))])
            if pos == length:
                break
            dist: dict[str, float] = {}
            for chars, _s in split:
                for ch, p in chars[pos]:
                    dist[ch] = dist.get(ch, 0.0) + p / n
            out.append(sorted(dist.items(), key=lambda kv: -kv[1])[:4])
        fused.append(out)
    return fused


def _top_chars(reading: PlateReading) -> str:
    return "".join(c[0][0] for row in reading.row_chars for c in _split_row(row)[0])


def _consistent(readings: Sequence[PlateReading], members: list[int]) -> list[int]:
    """The members whose characters differ from the per-position majority in at most a quarter of
    the positions (at least one): the others read another plate (another vehicle, a sticker) and
    must not be averaged into this one."""
    if len(members) < 3:
        tops = [_top_chars(readings[i]) for i in members]
        if len(members) == 2 and sum(a != b for a, b in zip(*tops)) > max(1, len(tops[0]) // 4):
            return [max(members, key=lambda i: readings[i].confidence)]
        return members
    tops = {i: _top_chars(readings[i]) for i in members}
    length = len(next(iter(tops.values())))
    majority = ""
    for pos in range(length):
        counts: dict[str, float] = {}
        for i, t in tops.items():
            counts[t[pos]] = counts.get(t[pos], 0.0) + readings[i].confidence + 1e-6
        majority += max(counts, key=counts.get)
    limit = max(1, length // 4)
    kept = [i for i in members if sum(a != b for a, b in zip(tops[i], majority)) <= limit]
    return kept or [max(members, key=lambda i: readings[i].confidence)]


def combine_readings(
    readings: Sequence[PlateReading], *, min_confidence: float = 0.5, top_k: int = 5
) -> PlateReading:
    """One plate from several readings of the same vehicle's plate (crops of several frames).

    The readings whose rows have the same shape (characters per row) as most of the evidence are
    fused character by character (`fuse_rows`: the mean of their alternatives) and corrected by the
    grammar once; the confidence is the fused plate's score times the share of the readings' total
    confidence that this shape holds, so frames that disagree (another shape, another plate) pull
    it down instead of being outvoted silently. ``agreed`` counts the readings whose own best
    candidate is the fused plate; ``candidates`` are the per-frame texts with their mean confidence
    (what each frame saw, for the review desk), the fused plate first when it is read; the colour, ``quad`` and
    ``best_frame`` are those of the reading that scores the plate highest.
    """
    if not readings:
        return PlateReading(text=None, confidence=0.0, frames=0, agreed=0)
    weight = [max(r.confidence, 1e-6) if r.row_chars else 0.0 for r in readings]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, r in enumerate(readings):
        if r.row_chars:
            shape = tuple(len(_split_row(row)[0]) for row in r.row_chars)
            groups.setdefault(shape, []).append(i)
    votes: dict[str, float] = {}
    voters = [r for r in readings if r.candidates]
    for r in voters:
        for c in r.candidates:
            votes[c.text] = votes.get(c.text, 0.0) + c.confidence / len(voters)
    fused_ranked: list[tuple[PlateText, float]] = []
    if groups:
        members = max(groups.values(), key=lambda idx: sum(weight[i] for i in idx))
        members = _consistent(readings, members)
        share = sum(weight[i] for i in members) / sum(weight)
        rows = fuse_rows([readings[i].row_chars for i in members])
        layout = "one_row" if len(rows) == 1 else "two_row"
        fused_ranked = [(p, s * share) for p, s in correct_rows(rows, top_k=top_k, allow_deletion=True, layout=layout)]
    ranked = dict(sorted(votes.items(), key=lambda kv: -kv[1]))
    if not ranked and not fused_ranked:
        return PlateReading(text=None, confidence=0.0, frames=len(readings), agreed=0)
    text, conf = (fused_ranked[0][0].text, fused_ranked[0][1]) if fused_ranked else next(iter(ranked.items()))
    if conf >= min_confidence:  # the fused plate first; otherwise what the frames saw, for the review desk
        ranked = {text: conf, **{t: v for t, v in ranked.items() if t != text}}
    else:
        ranked.setdefault(text, conf)
    candidates = [PlateCandidate(t, round(c, 4)) for t, c in list(ranked.items())[:top_k]]
    agreed = sum(1 for r in readings if r.candidates and r.candidates[0].text == text)

    def support(i: int) -> float:
        return max((c.confidence for c in readings[i].candidates if c.text == text), default=-1.0)

    best = max(range(len(readings)), key=lambda i: (support(i), readings[i].confidence))
    source = readings[best]
    accepted = conf >= min_confidence
    return PlateReading(
        text=text if accepted else None,
        confidence=round(conf, 4),
        candidates=candidates,
        colour=source.colour,
        colour_confidence=source.colour_confidence,
        plate=parse_plate(text) if accepted else None,
        quad=source.quad,
        raw_rows=source.raw_rows,
        row_chars=source.row_chars,
        frames=len(readings),
        agreed=agreed,
        best_frame=best,
    )


def read_track(
    reader: PlateReader, crops: Sequence[np.ndarray], *, k: int = 5, min_confidence: float | None = None
) -> PlateReading:
    """Read the ``k`` sharpest, largest crops of one track and combine them (`combine_readings`).

    ``best_frame`` is an index into ``crops``; ``quad`` is in that crop's coordinates.
    ``min_confidence`` defaults to the reader's own threshold.
    """
    if min_confidence is None:  # the reader's own threshold
        min_confidence = getattr(getattr(reader, "config", None), "min_confidence", 0.5)
    if not crops:
        return PlateReading(text=None, confidence=0.0, frames=0, agreed=0)
    chosen = best_frames(crops, k=k)
    reading = combine_readings([reader.read(crops[i]) for i in chosen], min_confidence=min_confidence)
    reading.best_frame = chosen[reading.best_frame] if reading.frames else 0
    return reading
