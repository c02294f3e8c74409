"""Rules and the scene analyzer on synthetic tracks (real tracker, real geometry).

Each scenario moves boxes with known positions through `SceneAnalyzer.process`, so
what the rules see went through ByteTrack exactly as camera detections do.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from analytics.classes import CLASS_IDS
from analytics.detections import Detections
from analytics.rules.base import RuleHit
from analytics.rules.registry import RULE_CLASSES
from analytics.rules.security import TimeWindow
from analytics.scene import SceneAnalyzer, SceneConfig

ZONE = {"name": "z", "polygon": [[100, 100], [300, 100], [300, 300], [100, 300]]}
DT = 0.2  # 5 fps


def boxes(*objs: tuple[float, float, str]) -> Detections:
    """Boxes 30x60 whose bottom centre is (x, y), with class names."""
    if not objs:
        return Detections.empty()
    return Detections(
        xyxy=[[x - 15, y - 60, x + 15, y] for x, y, _ in objs],
        confidence=[0.9] * len(objs),
        class_id=[CLASS_IDS[c] for _, _, c in objs],
    )


def run(config: dict, frames: list[Detections], t0: float = 1_700_000_000.0) -> list[RuleHit]:
    scene = SceneAnalyzer(SceneConfig.model_validate(config))
    hits: list[RuleHit] = []
    for i, dets in enumerate(frames):
        hits += scene.process(None, t0 + i * DT, dets).hits
    return hits


# --- scene config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]}, "at least 3 points, got 2"),
        ({"rules": [{"type": "teleport"}]}, "does not match any of the expected tags"),
        ({"rules": [{"type": "loitering", "zone": "nowhere"}]}, "names zones ['nowhere'] that the scene does not define"),
        ({"zones": [ZONE, ZONE]}, "duplicate zone names: ['z']"),
        ({"zones": [ZONE], "rules": [{"type": "loitering", "zone": "z", "dwell": 3}]}, "Extra inputs are not permitted"),
        ({"zones": [ZONE], "rules": [{"type": "loitering", "zone": "z", "classes": ["dragon"]}]}, "unknown classes"),
        ({"zones": [ZONE], "rules": [{"type": "crowding", "zone": "z", "max_count": -1}]}, "greater than or equal"),
        ({"lanes": [{"name": "l", "polygon": ZONE["polygon"], "direction": [0, 1]}], "rules": [{"type": "wrong_way", "lanes": ["m"]}]}, "lanes ['m']"),
        ({"zones": [ZONE], "rules": [{"type": "zone_intrusion", "zone": "z", "timezone": "Mars/Base"}]}, "unknown time zone"),
        ({"zone_grace_s": 5, "track_end_s": 3}, "must be shorter than track_end_s"),
    ],
)
def test_scene_config_errors_are_clear(config: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SceneConfig.model_validate(config)
    assert message in str(info.value)


@pytest.mark.parametrize(("ts", "message"), [(10.0, "increase"), (9.0, "increase"), (float("nan"), "finite")])
def test_bad_timestamps_are_refused_and_change_nothing(ts: float, message: str) -> None:
    scene = SceneAnalyzer(SceneConfig())
    scene.process(None, 10.0, Detections.empty())
    with pytest.raises(ValueError, match=message):
        scene.process(None, ts, Detections.empty())
    scene.process(None, 10.5, Detections.empty())  # still usable


def test_registry_has_every_builtin_rule() -> None:
    assert {"line_count", "zone_intrusion", "loitering", "crowding", "wrong_way", "illegal_stopping"} <= set(RULE_CLASSES)


def test_rule_hit_validates_type_and_builds_payload() -> None:
    with pytest.raises(ValueError, match="dotted event type"):
        RuleHit(type="Intrusion", severity="warning", ts=0, rule="r")
    hit = RuleHit(type="traffic.wrong_way", severity="warning", ts=1, rule="ww", payload={"lane": "l"}, track_id=3, box=(1.04, 2, 3, 4), class_name="car")
    assert hit.event_payload() == {"rule": "ww", "track": 3, "class": "car", "box": [1.0, 2.0, 3.0, 4.0], "lane": "l"}


# --- security rules -------------------------------------------------------------------------


def test_intrusion_once_per_stay_and_again_after_leaving() -> None:
    path = [(200, 50 + 25 * i) for i in range(10)] + [(200, 400)] * 10 + [(200, 200)] * 5
    frames = [boxes((x, y, "pedestrian"), (150, 200, "car")) for x, y in path]
    hits = run({"zones": [ZONE], "rules": [{"type": "zone_intrusion", "zone": "z"}], "zone_grace_s": 0.5}, frames)
    assert [h.class_name for h in hits] == ["pedestrian", "pedestrian"]
    assert hits[0].type == "security.intrusion" and hits[0].payload == {"zone": "z"} and hits[0].severity == "warning"


@pytest.mark.parametrize(
    ("window", "local", "inside"),
    [
        ({"start": "08:00", "end": "17:00"}, "2026-11-23 09:30", True),
        ({"start": "08:00", "end": "17:00"}, "2026-11-23 17:30", False),
        ({"start": "22:00", "end": "06:00"}, "2026-11-23 23:00", True),
        ({"start": "22:00", "end": "06:00"}, "2026-11-24 05:00", True),  # Tuesday early: Monday's night window
        ({"start": "22:00", "end": "06:00"}, "2026-11-23 12:00", False),
        ({"start": "22:00", "end": "06:00", "days": [5, 6]}, "2026-11-23 23:00", False),  # Monday
    ],
)
def test_time_windows(window: dict, local: str, inside: bool) -> None:
    t = dt.datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert TimeWindow.model_validate(window).contains(t) is inside


@pytest.mark.parametrize(("local_start", "fires"), [("2026-11-23 23:00", True), ("2026-11-23 12:00", False)])
def test_intrusion_respects_the_schedule(local_start: str, fires: bool) -> None:
    t0 = dt.datetime.strptime(local_start, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()
    frames = [boxes((200, 200, "pedestrian"))] * 6
    rule = {"type": "zone_intrusion", "zone": "z", "schedule": [{"start": "22:00", "end": "06:00"}]}
    assert bool(run({"zones": [ZONE], "rules": [rule]}, frames, t0=t0)) is fires


def test_loitering_after_dwell_only_for_the_class() -> None:
    frames = [boxes((200 + (i % 3), 200, "pedestrian"), (150, 250, "truck")) for i in range(30)]  # 6 s
    hits = run({"zones": [ZONE], "rules": [{"type": "loitering", "zone": "z", "dwell_s": 3}]}, frames)
    assert len(hits) == 1 and hits[0].class_name == "pedestrian" and 3.0 <= hits[0].payload["dwell_s"] < 3.5


def test_crowding_needs_count_and_duration_then_cools_down() -> None:
    crowd = [(120 + 40 * k, 200, "pedestrian") for k in range(4)]
    frames = [boxes(*crowd[:2])] * 5 + [boxes(*crowd)] * 30
    rule = {"type": "crowding", "zone": "z", "max_count": 3, "min_duration_s": 1.0, "cooldown_s": 60}
    hits = run({"zones": [ZONE], "rules": [rule]}, frames)
    assert len(hits) == 1
    hit = hits[0]
    assert hit.type == "security.crowding" and hit.payload["count"] == 4 and hit.track_id is None
    assert hit.box == (105.0, 140.0, 255.0, 200.0)


# --- traffic rules --------------------------------------------------------------------------

LANE = {"name": "down", "polygon": [[0, 0], [400, 0], [400, 400], [0, 400]], "direction": [0, 1]}


@pytest.mark.parametrize(
    ("ys", "flagged"),
    [
        ([380 - 12 * i for i in range(20)], True),  # drives up a lane that goes down
        ([100 + 12 * i for i in range(20)], False),  # drives the right way
        ([200 + (4 if i % 2 else -4) for i in range(30)], False),  # jitter in place
        ([200 - 3 * i for i in range(8)], False),  # backwards but only 21 px: below min distance
    ],
)
def test_wrong_way(ys: list[float], flagged: bool) -> None:
    frames = [boxes((200, y, "car")) for y in ys]
    rule = {"type": "wrong_way", "lanes": ["down"], "min_distance_px": 40, "min_frames": 5}
    hits = run({"lanes": [LANE], "rules": [rule]}, frames)
    assert len(hits) == int(flagged)
    if flagged:
        assert hits[0].type == "traffic.wrong_way" and hits[0].class_name == "car" and hits[0].payload["lane"] == "down"


def test_wrong_way_ignores_pedestrians_by_default() -> None:
    frames = [boxes((200, 380 - 12 * i, "pedestrian")) for i in range(20)]
    assert run({"lanes": [LANE], "rules": [{"type": "wrong_way", "lanes": ["down"]}]}, frames) == []


def test_illegal_stopping_once_per_stop() -> None:
    drive_in = [(200, 50 + 30 * i) for i in range(6)]  # reaches y=200 inside the zone
    stop = [(200 + (i % 2), 200) for i in range(30)]  # 6 s standing (1 px jitter)
    leave_and_stop = [(200, 200 + 20 * i) for i in range(1, 4)] + [(200, 260)] * 30
    frames = [boxes((x, y, "car")) for x, y in drive_in + stop + leave_and_stop]
    rule = {"type": "illegal_stopping", "zone": "z", "max_stationary_s": 4, "radius_px": 5}
    hits = run({"zones": [ZONE], "rules": [rule]}, frames)
    assert [h.type for h in hits] == ["traffic.illegal_stopping"] * 2
    assert all(4 <= h.payload["stationary_s"] < 4.5 for h in hits)


def test_moving_traffic_is_not_illegal_stopping() -> None:
    frames = [boxes((200, 50 + 10 * i, "car")) for i in range(40)]
    rule = {"type": "illegal_stopping", "zone": "z", "max_stationary_s": 2}
    assert run({"zones": [ZONE], "rules": [rule]}, frames) == []


# --- counting -------------------------------------------------------------------------------


def test_line_count_aggregates_per_window() -> None:
    line = {"name": "g", "start": [0, 200], "end": [400, 200], "in_name": "south", "out_name": "north"}
    # a car going down, a motorbike going up, both crossing in the first 2 s; nothing after
    frames = [boxes((100, 120 + 20 * i, "car"), (300, 280 - 20 * i, "motorbike")) for i in range(9)]
    frames += [Detections.empty()] * 16
    rule = {"type": "line_count", "line": "g", "interval_s": 2, "emit_empty": False}
    hits = run({"lines": [line], "rules": [rule]}, frames)
    assert len(hits) == 1
    assert hits[0].type == "count.line" and hits[0].severity == "info" and hits[0].evidence == []
    assert hits[0].payload["counts"] == {"north": {"motorbike": 1}, "south": {"car": 1}} and hits[0].payload["total"] == 2

    rule["emit_empty"] = True
    hits = run({"lines": [line], "rules": [rule]}, frames)
    assert [h.payload["total"] for h in hits] == [2, 0]  # the quiet window is reported too


def test_scene_result_tracks_are_confirmed_only() -> None:
    scene = SceneAnalyzer(SceneConfig())
    first = scene.process(None, 0.0, boxes((100, 100, "car")))
    second = scene.process(None, 0.2, boxes((102, 100, "car")))
    assert len(first.tracks) == 0 and len(second.tracks) == 1 and second.tracks.tracker_id[0] >= 0
    assert np.isclose(scene.history[int(second.tracks.tracker_id[0])].points[-1][1], 102)


def test_ended_tracks_are_forgotten() -> None:
    """A camera runs for months: per-track state must not grow with every road user ever seen."""
    line = {"name": "g", "start": [0, 200], "end": [400, 200]}
    scene = SceneAnalyzer(SceneConfig.model_validate({"lines": [line], "rules": [{"type": "line_count", "line": "g"}], "track_end_s": 1.0, "zone_grace_s": 0.5}))
    t = 0.0
    for i in range(9):
        scene.process(None, t, boxes((100, 120 + 20 * i, "car")))
        t += DT
    assert len(scene.history) == 1 and scene.rules[0]._counted
    for _ in range(15):  # 3 s of empty road
        scene.process(None, t, Detections.empty())
        t += DT
    assert scene.history == {} and scene.rules[0]._counted == set() and scene.lines["g"]._side == {}
    assert scene.rules[0].totals[("in", "car")] == 1
