"""Red light on scripted signal sequences: a traffic light painted onto a real street frame,
read by HSV colour classification, and scripted vehicles crossing the stop line under it;
and the same sequences through the controller-feed board."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.detections import Detections
from analytics.rules.violations.exceptions import RuleConfigError
from analytics.rules.violations.signal import SIGNALS, SignalBoard, SignalTimeline, classify_lamp
from analytics.scene import SceneAnalyzer, SceneConfig
from edge.evidence.chain import ManifestChain
from edge.evidence.keys import EdgeSigningKey
from edge.evidence.packager import CameraInfo, EvidenceConfig, EvidencePackager, EvidenceRequest
from edge.evidence.violations import caption_lines, overlays_for
from tests.analytics.conftest import read_frame

LIGHT_ROI = (520, 20, 556, 110)  # the painted signal head: x1, y1, x2, y2
LAMP_Y = {"red": 38, "amber": 65, "green": 92}
LAMP_BGR = {"red": (40, 40, 255), "amber": (0, 190, 255), "green": (80, 255, 60)}
FPS = 10.0
# green 0-10 s, amber 10-13 s, red 13-40 s
PHASES = [(0.0, "green"), (10.0, "amber"), (13.0, "red")]
# (track name, class, time its wheels cross the stop line, lane x, direction of travel)
VEHICLES = [
    ("on_green", "car", 8.0, 60, +1),
    ("on_amber", "motorbike", 11.5, 160, +1),
    ("first_moments_of_red", "car", 13.3, 260, +1),
    ("on_red", "car", 15.0, 360, +1),
    ("leaving_on_red", "car", 20.0, 460, -1),
    ("late_red", "truck", 30.0, 60, +1),
]
STOP_Y = 200.0
SPEED_PX_S = 60.0


def paint_light(frame: np.ndarray, lit: str | None) -> np.ndarray:
    """A signal head (dark housing, three lamps) with one lamp lit, or none (LED off phase)."""
    out = frame.copy()
    x1, y1, x2, y2 = LIGHT_ROI
    cv2.rectangle(out, (x1, y1), (x2, y2), (25, 25, 25), -1)
    for colour, y in LAMP_Y.items():
        dim = tuple(int(c * 0.25) for c in LAMP_BGR[colour])
        cv2.circle(out, ((x1 + x2) // 2, y), 11, LAMP_BGR[colour] if colour == lit else dim, -1, cv2.LINE_AA)
    return out


def phase_at(t: float) -> str:
    return [c for start, c in PHASES if t >= start][-1]


def detections_at(t: float, only: set[str] | None = None) -> Detections:
    boxes, classes = [], []
    for name, cls, t_cross, x, sign in VEHICLES:
        if only is not None and name not in only:
            continue
        bottom = STOP_Y + sign * SPEED_PX_S * (t - t_cross)
        if 90 <= bottom <= 315:
            boxes.append([x, bottom - 40, x + 60, bottom])
            classes.append({"car": 2, "motorbike": 3, "truck": 7}[cls])
    return Detections(xyxy=np.array(boxes, np.float32).reshape(-1, 4), confidence=np.full(len(boxes), 0.9),
                      class_id=classes)


@pytest.fixture(scope="module")
def street_frame(shared_data: Path) -> np.ndarray:
    return read_frame(shared_data / "street_crossing_320p.mp4", 100)


@pytest.fixture(scope="module")
def light_frames(street_frame: np.ndarray) -> dict[str | None, np.ndarray]:
    return {lit: paint_light(street_frame, lit) for lit in (None, "red", "amber", "green")}


def run(rule: dict, frames: dict | None, *, flicker_every: int = 0, duration_s: float = 40.0) -> list:
    scene = SceneAnalyzer(SceneConfig.model_validate({
        "lines": [{"name": "stop", "start": (0, STOP_Y), "end": (576, STOP_Y)}],
        "rules": [rule]}))
    hits = []
    start_track = {}
    for i in range(int(duration_s * FPS)):
        t = i / FPS
        frame = None
        if frames is not None:
            lit = phase_at(t)
            # An LED signal filmed by a camera now and then looks dark for a frame.
            frame = frames[None] if flicker_every and i % flicker_every == 0 else frames[lit]
        result = scene.process(frame, t, detections_at(t))
        for h in result.hits:
            h.payload["_t"] = t
        hits += result.hits
        start_track.update({tid: scene.history[tid].points[0][1] for tid in result.tracks.tracker_id.tolist()})
    # name each hit by the lane x of its track's first box
    lane_to_name = {x + 30: n for n, _, _, x, _ in VEHICLES}
    for h in hits:
        x_center = (h.box[0] + h.box[2]) / 2
        h.payload["_name"] = lane_to_name[min(lane_to_name, key=lambda lx: abs(lx - x_center))]
    return hits


def names(hits: list) -> list[str]:
    return sorted(h.payload["_name"] for h in hits)


@pytest.mark.parametrize("lit", ["red", "amber", "green", None])
def test_lamp_colour_from_hsv(light_frames, lit: str | None) -> None:
    reading = classify_lamp(light_frames[lit], LIGHT_ROI)
    assert reading.colour == (lit or "unknown")


def test_the_real_scene_without_a_light_reads_unknown(street_frame: np.ndarray) -> None:
    """Must not fire: a region with no lit lamp in it never reads as red."""
    assert classify_lamp(street_frame, (0, 0, 60, 60)).colour == "unknown"


FRAME_SIGNAL = {"source": "frame", "roi": LIGHT_ROI}


@pytest.mark.parametrize("rule_extra, expected", [
    ({}, ["late_red", "on_red"]),                                                    # grace: amber, first 0.5 s of red
    ({"amber_is_violation": True}, ["late_red", "on_amber", "on_red"]),             # amber counts
    ({"red_grace_s": 0.0}, ["first_moments_of_red", "late_red", "on_red"]),         # no grace on red
    ({"red_grace_s": 3.0}, ["late_red"]),                                            # long grace
    ({"classes": ["car"]}, ["on_red"]),                                              # trucks not checked
])
def test_red_light_from_the_frame(light_frames, rule_extra: dict, expected: list[str]) -> None:
    hits = run({"type": "red_light", "stop_line": "stop", "signal": FRAME_SIGNAL, **rule_extra}, light_frames)
    assert names(hits) == expected
    for h in hits:
        assert h.type == "traffic.red_light" and h.payload["signal"] in ("red", "amber")
        assert h.payload["signal_source"] == "frame" and h.payload["line"] == "stop"
        assert h.evidence == ["overview", "plate", "clip"] and h.payload["signal_roi"] == list(LIGHT_ROI)
    for h in hits:  # the red phase is dated from its first reading: 13 s
        if h.payload["signal"] == "red":
            assert h.payload["signal_for_s"] == pytest.approx(h.payload["_t"] - 13.0, abs=0.01)


def test_led_flicker_does_not_break_the_red_phase(light_frames) -> None:
    """A dark frame now and then (LED PWM) is debounced: same verdicts, same red start."""
    hits = run({"type": "red_light", "stop_line": "stop", "signal": FRAME_SIGNAL}, light_frames, flicker_every=7)
    assert names(hits) == ["late_red", "on_red"]


def test_must_not_fire_without_a_readable_signal(light_frames) -> None:
    """No lamp lit (signal dark or out of view) all the time: unknown is never red."""
    dark = {k: light_frames[None] for k in light_frames}
    assert run({"type": "red_light", "stop_line": "stop", "signal": FRAME_SIGNAL}, dark) == []


def test_must_not_fire_when_always_green(light_frames) -> None:
    green = {k: light_frames["green"] for k in light_frames}
    assert run({"type": "red_light", "stop_line": "stop", "signal": FRAME_SIGNAL}, green) == []


def test_red_light_from_the_controller_feed() -> None:
    signal_id = "test/feed-sequence"
    for start, colour in PHASES:
        SIGNALS.record(signal_id, start, colour)
    # the controller repeats the state every 5 s (keeps the board from calling it stale)
    for t in range(15, 41, 5):
        SIGNALS.record(signal_id, float(t), "red")
    hits = run({"type": "red_light", "stop_line": "stop",
                "signal": {"source": "external", "signal_id": signal_id}}, None)
    assert names(hits) == ["late_red", "on_red"]
    assert {h.payload["signal_source"] for h in hits} == {"external"}


def test_external_signal_without_messages_never_fires() -> None:
    hits = run({"type": "red_light", "stop_line": "stop",
                "signal": {"source": "external", "signal_id": "test/silent"}}, None)
    assert hits == []


def test_timeline_orders_late_messages_and_goes_stale() -> None:
    tl = SignalTimeline(stale_s=10.0)
    tl.record(100.0, "green")
    tl.record(133.0, "red")
    tl.record(130.0, "amber")  # arrives late (an MQTT retry): inserted in time order
    assert tl.state_at(131.0) == ("amber", 130.0)
    assert tl.state_at(135.0) == ("red", 133.0)
    assert tl.state_at(99.0)[0] == "unknown"
    assert tl.state_at(150.0)[0] == "unknown"  # nothing heard for 17 s


@pytest.mark.parametrize("colour, signal_id", [("purple", "x"), ("red", "")])
def test_board_refuses_bad_messages(colour: str, signal_id: str) -> None:
    with pytest.raises(ValueError):
        SignalBoard().record(signal_id, 1.0, colour)


def test_misspelt_direction_is_an_error_not_silence() -> None:
    with pytest.raises(RuleConfigError, match="'inn' is not a direction of line 'stop'"):
        run({"type": "red_light", "stop_line": "stop", "direction": "inn",
             "signal": {"source": "external", "signal_id": "x"}}, None, duration_s=0.2)


def test_red_light_evidence_shows_stop_line_and_signal(light_frames, tmp_path: Path, artifacts_dir: Path) -> None:
    """The overview of a red-light violation, from the scripted sequence, with the stop line and lamp drawn."""
    rule = {"type": "red_light", "stop_line": "stop", "signal": FRAME_SIGNAL}
    hit = next(h for h in run(rule, light_frames) if h.payload["_name"] == "on_red")
    scene = SceneConfig.model_validate({"lines": [{"name": "stop", "start": (0, STOP_Y), "end": (576, STOP_Y)}],
                                        "rules": [rule]})
    overlays = overlays_for(hit, scene)
    assert [o.label for o in overlays] == ["stop", "đèn tín hiệu"]
    packager = EvidencePackager(EvidenceConfig(), ManifestChain(tmp_path, EdgeSigningKey.load_or_create(tmp_path), "e"),
                                tmp_path / "files")
    pending = packager.prepare(EvidenceRequest(
        event_id=uuid.uuid4(), event_seq=None, type=hit.type, ts=datetime(2026, 11, 22, 11, 0, 15, tzinfo=timezone.utc),
        mono=15.0, camera=CameraInfo("cam-nga-tu", "Ngã tư Hàng Xanh", "Phường Bình Thạnh, TP.HCM", "26734"),
        frame=light_frames["red"], box=hit.box, overlays=overlays, caption_lines=caption_lines(hit)))
    assert caption_lines(hit)[0].startswith("Đèn đỏ 2.")  # crossed about 2 s into red
    overview = cv2.imdecode(np.frombuffer(pending.blobs[0][2], np.uint8), cv2.IMREAD_COLOR)
    cv2.imwrite(str(artifacts_dir / "evidence_red_light_overview.png"), overview)
    band = overview.shape[0] - light_frames["red"].shape[0]
    x1, y1, x2, y2 = LIGHT_ROI
    scale = overview.shape[1] / light_frames["red"].shape[1]
    border = overview[band + int(y1 * scale) - 1: band + int(y1 * scale) + 2, int(x1 * scale) + 3: int(x2 * scale) - 3]
    assert (border[..., 2] > 180).mean() > 0.5  # the red box around the signal head
