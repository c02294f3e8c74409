"""Counting and wrong-way on the real highway video (highway_720p.mp4, 1280x720, 426 frames).

Reference count, by hand
------------------------
The counting line runs across the whole frame at y = 300 px, from (0, 300) to
(1280, 300). I extracted every 5th frame with OpenCV, cut the band y = 180..420 with
the line drawn in red and the frame number written on it, stacked six bands per
sheet (15 sheets) and looked at every sheet, following each vehicle from band to
band and noting the pair of frames between which its lowest edge (the wheels)
passed the line. The camera (on an overpass, looking along the road) sees two
carriageways split by a median with a lighting pole:

* left carriageway, traffic coming towards the camera (moving down in the image,
  ``toward``): 13 vehicles — crossing between frames 55-60 (silver sedan),
  95-100 (dark sedan), 120-125 (grey sedan), 180-185 (dark SUV), 215-220 (silver
  car), 235-240 (dark sedan), ~240 (silver sedan), 260-265 (dark car), 290-295
  (dark SUV), 335-340 (white car), ~345 (red car), 390-395 (white pickup towing a
  trailer of mowers: one vehicle), 420-425 (white SUV, the last frames).
* right carriageway, traffic going away (moving up, ``away``): 27 vehicles —
  crossing at about frames 60-65 (black SUV), 70-75 (dark sedan), 85-90 (dark
  pickup), 105-110 (black SUV), 115-120 (silver SUV), 135-140 (grey SUV), ~140 (red
  SUV), 145-150 (dark SUV), 165-170 (black SUV), 175-180 (red SUV and white sedan),
  ~190 (silver SUV), 205-210 (dark sedan), 225-230 (white SUV), 255-260 (dark SUV),
  270-275 (dark SUV), 285-290 (silver pickup), 300-305 (white SUV), 315-320 (black
  van), 320-325 (silver sedan), 325-330 (white SUV), ~330 (white sedan), 345-350
  (grey SUV), 360-365 (brown SUV), ~375 (dark sedan), ~380 (minivan), 385-390
  (silver sedan).

No vehicle changes carriageway and none stops. The analyzer runs at 10 fps (every
3rd frame) and 7.5 fps (every 4th), as an edge would on a camera like this. (At 6
fps one car going away is lost: its box jumps at the right frame edge and the
track breaks before it reaches the line; docs/analytics.md.) The result does not
hinge on the detector threshold: confidence 0.25, 0.30, 0.35 and 0.40 all give
13 / 27 at both rates.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from analytics.scene import SceneAnalyzer, SceneConfig
from analytics.detectors.yolox import YoloxDetector
from tests.analytics.conftest import VideoDetections, highway_at

REFERENCE = {"toward": 13, "away": 27}
VEHICLES = ["bicycle", "motorbike", "car", "bus", "truck"]

LINE = {"name": "gate", "start": [0, 300], "end": [1280, 300], "in_name": "toward", "out_name": "away", "min_crossing_px": 6}
# Carriageways drawn on frame 290 (the camera sways a few pixels, the polygons leave margin).
LEFT = [[0, 300], [460, 150], [635, 150], [620, 720], [0, 720]]
RIGHT = [[665, 150], [830, 150], [1280, 250], [1280, 720], [690, 720]]
DOWN, UP = (0.0, 1.0), (0.0, -1.0)


def run_scene(video: VideoDetections, config: SceneConfig) -> tuple[SceneAnalyzer, list]:
    scene = SceneAnalyzer(config)
    hits = []
    for _, ts, dets in video.frames:
        hits += scene.process(None, ts, dets).hits
    hits += scene.flush()
    return scene, hits


@pytest.mark.parametrize("step", [3, 4], ids=["10fps", "7.5fps"])
def test_line_counts_per_direction_match_hand_count(yolox: YoloxDetector, shared_data: Path, step: int) -> None:
    video = highway_at(yolox, shared_data, step)
    config = SceneConfig.model_validate(
        {"lines": [LINE], "rules": [{"type": "line_count", "line": "gate", "classes": VEHICLES, "interval_s": 5}]}
    )
    scene, hits = run_scene(video, config)
    per_direction = Counter()
    for (direction, _cls), n in scene.rules[0].totals.items():
        per_direction[direction] += n
    assert dict(per_direction) == REFERENCE

    # The same numbers reach the wall as count.line aggregates, one per 5 s window.
    assert hits and all(h.type == "count.line" and h.track_id is None for h in hits)
    assert len(hits) == 3  # 14.2 s of video: windows closing at 5 s, 10 s and the final flush
    summed = Counter()
    for h in hits:
        for direction, by_class in h.payload["counts"].items():
            summed[direction] += sum(by_class.values())
    assert dict(summed) == REFERENCE


@pytest.mark.parametrize(
    ("left_direction", "right_direction", "flagged_side"),
    [
        (DOWN, UP, None),  # the real directions: nobody is wrong
        (DOWN, DOWN, "right"),  # right carriageway declared as going down: its vehicles are wrong
        (UP, UP, "left"),  # left carriageway declared as going up
    ],
)
def test_wrong_way_flags_only_the_reversed_carriageway(
    highway_10fps: VideoDetections, left_direction: tuple, right_direction: tuple, flagged_side: str | None
) -> None:
    config = SceneConfig.model_validate(
        {
            "lanes": [
                {"name": "left", "polygon": LEFT, "direction": left_direction},
                {"name": "right", "polygon": RIGHT, "direction": right_direction},
            ],
            "rules": [{"type": "wrong_way", "lanes": ["left", "right"], "min_distance_px": 40, "min_frames": 5}],
        }
    )
    _, hits = run_scene(highway_10fps, config)
    lanes = Counter(h.payload["lane"] for h in hits)
    if flagged_side is None:
        assert hits == []
        return
    other = "left" if flagged_side == "right" else "right"
    assert lanes[other] == 0
    # Every vehicle of the reversed carriageway is flagged: as many as the hand count of that side.
    assert lanes[flagged_side] == REFERENCE["away" if flagged_side == "right" else "toward"]
    for h in hits:
        assert h.type == "traffic.wrong_way" and h.class_name in VEHICLES
        assert h.track_id is not None and h.box is not None and h.evidence == ["overview"]
        assert h.payload["distance_px"] >= 40 and h.payload["backward_frames"] >= 5
    assert len({h.track_id for h in hits}) == len(hits)  # one hit per track
