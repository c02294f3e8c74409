"""Zones, directed lines (hysteresis, identity-switch guard) and lanes."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from analytics.detections import Detections
from analytics.geometry import DirectedLine, Lane, LaneConfig, LineConfig, Zone, ZoneConfig


def box_at(x: float, y: float, tid: int = 1) -> Detections:
    """A 20x20 box whose bottom centre is (x, y)."""
    return Detections(xyxy=[[x - 10, y - 20, x + 10, y]], tracker_id=[tid])


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([(0, 0), (10, 0)], "at least 3 points, got 2"),
        ([(0, 0), (5, 5), (10, 10)], "no area"),
    ],
)
def test_bad_polygons_are_clear_errors(polygon: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ZoneConfig(name="z", polygon=polygon)
    with pytest.raises(ValidationError, match=message):
        LaneConfig(name="l", polygon=polygon, direction=(0, 1))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("end", (0.5, 0.5), "2 px apart"), ("name", "has space", "pattern"), ("min_crossing_px", -1, "greater than or equal")],
)
def test_bad_lines_are_clear_errors(field: str, value: object, message: str) -> None:
    args = {"name": "g", "start": (0, 0), "end": (100, 0), field: value}
    with pytest.raises(ValidationError, match=message):
        LineConfig(**args)


def test_zone_contains_uses_the_bottom_centre() -> None:
    zone = Zone(ZoneConfig(name="z", polygon=[(0, 50), (100, 50), (100, 100), (0, 100)]))
    dets = Detections(xyxy=[[40, 10, 60, 60], [40, 10, 60, 40], [140, 60, 160, 80]])
    assert zone.contains(dets).tolist() == [True, False, False]
    assert zone.contains(Detections.empty()).tolist() == []


@pytest.mark.parametrize(
    ("ys", "expected"),
    [
        ([30, 45, 55, 70], ["in"]),  # down across y=50: left-to-right when looking from start to end
        ([70, 55, 45, 30], ["out"]),
        ([45, 52, 48, 53, 47, 52], []),  # jitter inside the ±6 px dead band never counts
        ([30, 60, 30, 60], ["in", "out", "in"]),  # genuine back-and-forth counts each time
        ([60, 70], []),  # never on the other side
    ],
)
def test_line_crossings_with_hysteresis(ys: list[float], expected: list[str]) -> None:
    line = DirectedLine(LineConfig(name="g", start=(0, 50), end=(200, 50), min_crossing_px=6, approach_s=0))
    got = [c.direction for i, y in enumerate(ys) for c in line.update(box_at(100, y), ts=i * 0.1)]
    assert got == expected


def test_crossing_outside_the_segment_does_not_count() -> None:
    line = DirectedLine(LineConfig(name="g", start=(0, 50), end=(200, 50)))
    assert [c for i, y in enumerate([30, 70]) for c in line.update(box_at(300, y), ts=i)] == []


def test_identity_switch_jump_is_not_a_crossing() -> None:
    """A track moving up, away from the line, that lands below it in one step swapped identity."""
    line = DirectedLine(LineConfig(name="g", start=(0, 50), end=(200, 50), min_crossing_px=6, approach_s=1.0))
    ys = [40, 30, 20, 10, 90]
    assert [c for i, y in enumerate(ys) for c in line.update(box_at(100, y), ts=i * 0.1)] == []
    # while a track that approaches the line and crosses it counts
    ys = [10, 20, 30, 40, 90]
    assert [c.direction for i, y in enumerate(ys) for c in line.update(box_at(100, y, tid=2), ts=1 + i * 0.1)] == ["in"]


def test_line_ignores_untracked_boxes_and_forgets() -> None:
    line = DirectedLine(LineConfig(name="g", start=(0, 50), end=(200, 50)))
    assert line.update(box_at(100, 20, tid=-1), 0) == [] and line.update(box_at(100, 80, tid=-1), 1) == []
    line.update(box_at(100, 20), 2)
    line.forget({1})
    assert line.update(box_at(100, 80), 3) == []


def test_lane_direction_is_normalised() -> None:
    lane = Lane(LaneConfig(name="l", polygon=[(0, 0), (10, 0), (10, 10)], direction=(3, 4)))
    assert np.allclose(lane.direction, [0.6, 0.8]) and lane.along(np.array([3.0, 4.0])) == pytest.approx(5.0)
    with pytest.raises(ValidationError, match=r"\(0, 0\)"):
        LaneConfig(name="l", polygon=[(0, 0), (10, 0), (10, 10)], direction=(0, 0))
