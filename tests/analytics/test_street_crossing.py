"""Intrusion and loitering on the pedestrian crossing of street_crossing_320p.mp4 (576x320).

The video is handheld: the camera walks along Times Square and, from about frame
200 to 290, looks across a street whose zebra crossing fills the lower part of the
image (y > 235) while people wait on it and a white box truck passes behind them,
its wheels also inside that band (the detector calls it ``truck``). The zone is
drawn for that segment; only that segment is analysed.
"""

from __future__ import annotations

import pytest

from analytics.scene import SceneAnalyzer, SceneConfig
from tests.analytics.conftest import VideoDetections

CROSSING = [[0, 235], [576, 235], [576, 330], [0, 330]]  # below the frame edge: feet cut by the edge count
SEGMENT = (200, 292)
DWELL_S = 1.0


def run(video: VideoDetections, classes: list[str]) -> tuple[list, dict[int, tuple[str, float]]]:
    """Hits of intrusion + loitering for ``classes``, and the zone dwell of every track (class, seconds)."""
    config = SceneConfig.model_validate(
        {
            "zones": [{"name": "crossing", "polygon": CROSSING}],
            "rules": [
                {"type": "zone_intrusion", "zone": "crossing", "classes": classes},
                {"type": "loitering", "zone": "crossing", "classes": classes, "dwell_s": DWELL_S},
            ],
        }
    )
    scene = SceneAnalyzer(config)
    hits: list = []
    dwell: dict[int, tuple[str, float]] = {}
    for index, ts, dets in video.frames:
        if not SEGMENT[0] <= index <= SEGMENT[1]:
            continue
        result = scene.process(None, ts, dets)
        hits += result.hits
        for tid, secs in scene.zone_dwell("crossing").items():
            dwell[tid] = (scene.history[tid].class_name, secs)
    return hits, dwell


def test_people_on_the_crossing_fire_intrusion_and_loitering_trucks_do_not(street_10fps: VideoDetections) -> None:
    hits, dwell = run(street_10fps, ["pedestrian"])
    intrusions = [h for h in hits if h.type == "security.intrusion"]
    loiterers = [h for h in hits if h.type == "security.loitering"]

    # Several people step onto the crossing; each is reported once.
    assert len({h.track_id for h in intrusions}) == len(intrusions) >= 4
    assert len({h.track_id for h in loiterers}) == len(loiterers) >= 3
    assert {h.class_name for h in hits} == {"pedestrian"}
    for h in loiterers:
        assert h.payload["dwell_s"] >= DWELL_S and h.payload["zone"] == "crossing"
    for h in hits:
        assert h.box is not None and h.evidence == ["overview"] and h.event_payload()["class"] == "pedestrian"

    # The filter is what keeps the truck out: it was inside the zone longer than the dwell time.
    trucks_inside = [tid for tid, (cls, secs) in dwell.items() if cls == "truck" and secs >= DWELL_S]
    assert trucks_inside, f"expected the box truck inside the crossing zone; dwell: {dwell}"
    assert not set(trucks_inside) & {h.track_id for h in hits}


@pytest.mark.parametrize(("classes", "fires_for"), [(["truck"], {"truck"}), (["pedestrian", "truck"], {"pedestrian", "truck"})])
def test_class_filter_selects_who_fires(street_10fps: VideoDetections, classes: list[str], fires_for: set[str]) -> None:
    hits, _ = run(street_10fps, classes)
    assert {h.class_name for h in hits} == fires_for
