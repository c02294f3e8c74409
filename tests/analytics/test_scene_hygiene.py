"""Scene hygiene on real video: ignore masks drop the detections inside them (and only
those), scenery that never moves raises no events, stopping rules only consider tracks
that moved before they stopped, and the scene names the tracks moving now."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from analytics.classes import CLASS_IDS
from analytics.detections import Detections
from analytics.scene import SceneAnalyzer, SceneConfig
from tests.analytics.conftest import VideoDetections

# highway_720p: the left carriageway's traffic is at x < 640 (bottom centres), the right's beyond.
LEFT_HALF = [(0, 0), (640, 0), (640, 720), (0, 720)]
GATE = {"name": "gate", "start": [0, 500], "end": [1280, 500]}
BILLBOARD = (40.0, 40.0, 260.0, 160.0)  # top left, over the trees: never a road


def _inside(dets: Detections, polygon: list[tuple[float, float]]) -> np.ndarray:
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    anchors = dets.anchors("bottom_center")
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in anchors], bool)


def _with_billboard(dets: Detections, rng: np.random.Generator) -> Detections:
    """Add an LED billboard read as ``bus``: a fixed box with the jitter a detector gives it."""
    box = np.asarray(BILLBOARD) + rng.normal(0, 1.5, 4)
    extra = Detections(xyxy=box.reshape(1, 4), confidence=[0.6], class_id=[CLS["bus"]])
    return Detections.merge([dets, extra])


CLS = CLASS_IDS


def _is_billboard(box) -> bool:
    return box is not None and all(abs(float(a) - b) < 12 for a, b in zip(box, BILLBOARD))


def test_ignore_mask_drops_detections_inside_and_keeps_the_rest(highway_10fps: VideoDetections) -> None:
    plain = SceneAnalyzer(SceneConfig.model_validate({"lines": [GATE]}))
    masked = SceneAnalyzer(SceneConfig.model_validate({"lines": [GATE], "ignore": [{"name": "left", "polygon": LEFT_HALF}]}))
    dropped = kept_raw = 0
    masked_tracks: set[int] = set()
    plain_right: list[str] = []
    masked_cross: list[str] = []
    for _, ts, dets in highway_10fps.frames:
        inside = _inside(dets, LEFT_HALF)
        dropped += int(inside.sum())
        kept_raw += int((~inside).sum())
        a = plain.process(None, ts, dets)
        b = masked.process(None, ts, dets)
        assert b.ignored == int(inside.sum())
        assert not _inside(b.tracks, LEFT_HALF).any()  # nothing tracked has its anchor in the mask
        masked_tracks |= set(b.tracks.tracker_id.tolist())
        plain_right += [c.direction for c in a.crossings if (c.box[0] + c.box[2]) / 2 >= 640]
        masked_cross += [c.direction for c in b.crossings]
    assert dropped > 100 and kept_raw > 100, (dropped, kept_raw)  # both carriageways carry traffic
    assert masked_tracks, "the right carriageway must still be tracked"
    # the right carriageway is counted through the gate as without the mask; the left is not counted
    assert masked_cross and sorted(masked_cross) == sorted(plain_right), (masked_cross, plain_right)
    assert len(set(masked_cross)) == 1


def test_ignore_mask_is_validated() -> None:
    with pytest.raises(ValidationError, match="at least 3 points"):
        SceneConfig.model_validate({"ignore": [{"polygon": [[0, 0], [5, 5]]}]})


def test_a_billboard_read_as_bus_raises_no_events(highway_10fps: VideoDetections) -> None:
    """Loitering and stopping rules over a zone holding the billboard and the road."""
    rng = np.random.default_rng(3)
    zone = {"name": "all", "polygon": [(0, 0), (1280, 0), (1280, 720), (0, 720)]}
    rules = [{"type": "loitering", "zone": "all", "dwell_s": 9, "classes": ["bus", "car", "truck"]},
             {"type": "illegal_stopping", "zone": "all", "max_stationary_s": 5}]
    hits, suppressed, scenery = [], [], set()
    for cfg in ({"static": {"after_s": 8}}, {"static": {"enabled": False}}):
        scene = SceneAnalyzer(SceneConfig.model_validate({"zones": [zone], "rules": rules, **cfg}))
        out, sup = [], []
        for _, ts, dets in highway_10fps.frames:
            r = scene.process(None, ts, _with_billboard(dets, rng))
            out += r.hits
            sup += r.suppressed
            scenery |= r.scenery
        hits.append(out)
        suppressed.append(sup)
    on, off = hits
    billboard_tracks = {h.track_id for h in off if _is_billboard(h.box)}
    assert billboard_tracks, f"without suppression the billboard loiters: {[(h.type, h.box) for h in off]}"
    assert not {h.track_id for h in on} & billboard_tracks
    assert billboard_tracks <= scenery and {h.track_id for h in suppressed[0]} <= billboard_tracks
    # illegal stopping never fires for it, suppression or not: it was never seen moving
    assert not [h for h in off if h.type == "traffic.illegal_stopping" and h.track_id in billboard_tracks]


def _scripted(fps: float, seconds: float, boxes) -> list[tuple[float, Detections]]:
    out = []
    for i in range(int(seconds * fps)):
        t = i / fps
        objs = [b for f in boxes if (b := f(t)) is not None]
        out.append((t, Detections(xyxy=np.array([b for _, b in objs], np.float32).reshape(-1, 4),
                                  confidence=np.full(len(objs), 0.9), class_id=[CLS[c] for c, _ in objs])))
    return out


@pytest.mark.parametrize("rule", ["illegal_stopping", "no_stopping"])
def test_stopping_rules_need_a_track_that_moved_before_it_stopped(rule: str) -> None:
    rng = np.random.default_rng(1)

    def parked_from_start(t: float):  # stands where it was first seen (parked before the camera started)
        j = rng.normal(0, 1.0, 2)
        return "car", (100 + j[0], 200 + j[1], 180 + j[0], 250 + j[1])

    def drives_in_and_stops(t: float):
        x = 300 + 40 * min(t, 3.0)  # 120 px in 3 s, then stands
        j = rng.normal(0, 1.0, 2)
        return "car", (x + j[0], 200 + j[1], x + 80 + j[0], 250 + j[1])

    scene = SceneAnalyzer(SceneConfig.model_validate({
        "zones": [{"name": "z", "polygon": [(0, 0), (640, 0), (640, 360), (0, 360)]}],
        "rules": [{"type": rule, "zone": "z", "max_stationary_s": 5}]}))
    hits = [h for t, d in _scripted(10.0, 15.0, [parked_from_start, drives_in_and_stops])
            for h in scene.process(None, t, d).hits]
    assert len(hits) == 1 and hits[0].box is not None and hits[0].box[0] > 290, [(h.type, h.box) for h in hits]


def test_moving_names_the_tracks_in_motion(highway_10fps: VideoDetections) -> None:
    rng = np.random.default_rng(5)
    scene = SceneAnalyzer(SceneConfig())
    moving_any = 0
    for _, ts, dets in highway_10fps.frames:
        r = scene.process(None, ts, _with_billboard(dets, rng))
        billboard = [int(t) for t, b in zip(r.tracks.tracker_id, r.tracks.xyxy) if _is_billboard(b)]
        assert billboard or ts < 0.5  # confirmed after a few frames
        assert not set(billboard) & r.moving
        moving_any += bool(r.moving)
    assert moving_any > len(highway_10fps.frames) * 0.8


def test_a_flickering_billboard_is_scenery_again_at_once(highway_10fps: VideoDetections) -> None:
    """The detector loses an LED board whenever its picture changes; found again, it gets a new
    track, which is scenery from its first frame because the scene remembers the spot."""
    rng = np.random.default_rng(11)
    zone = {"name": "board", "polygon": [(0, 0), (400, 0), (400, 250), (0, 250)]}
    rule = {"type": "zone_intrusion", "zone": "board", "classes": ["bus"]}
    out = {}
    for remember in (0.0, 600.0):
        scene = SceneAnalyzer(SceneConfig.model_validate({
            "zones": [zone], "rules": [rule], "static": {"after_s": 6, "remember_s": remember}}))
        hits, tracks = [], set()
        for _, ts, dets in highway_10fps.frames:
            shown = ts < 7.0 or ts >= 11.0  # gone for 4 s: longer than the tracker keeps a lost track
            r = scene.process(None, ts, _with_billboard(dets, rng) if shown else dets)
            hits += [h for h in r.hits if _is_billboard(h.box)]
            tracks |= {int(t) for t, b in zip(r.tracks.tracker_id, r.tracks.xyxy) if _is_billboard(b)}
        out[remember] = (hits, tracks)
    hits, tracks = out[0.0]
    assert len(tracks) == 2, "the board must come back as a new track for this test to show anything"
    assert len(hits) == 2  # without memory the new track is a new intrusion
    hits, tracks = out[600.0]
    assert len(tracks) == 2 and len(hits) == 1  # only the first sighting, before it was known to be scenery
