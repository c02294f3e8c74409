"""The signal controller feed: real Mosquitto (MQTT) and a real HTTP server into the board,
then the red-light rule reading that board."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import paho.mqtt.client as mqtt
import pytest

from analytics.rules.violations.exceptions import SignalError
from analytics.rules.violations.signal import SignalBoard
from edge.evidence.signal_feed import HttpSignalFeed, MqttSignalFeed, SignalFeedConfig, SignalFeeds, parse_signal_message
from tests.conftest import require_service

NOW = 1_763_780_000.0


@pytest.mark.parametrize("body, signal_id, expected", [
    (b'{"state": "red", "ts": 1763780000.5}', "j1/bac", ("j1/bac", 1763780000.5, "red")),
    (b'{"signal": "j2", "state": "V\xc3\xa0ng"}', None, ("j2", NOW, "amber")),                # "Vàng"
    (b'{"state": "xanh", "ts": "2025-11-22T02:53:20Z"}', "j3", ("j3", NOW, "green")),
    (b'{"state": "off"}', "j4", ("j4", NOW, "unknown")),
])
def test_parse_messages(body: bytes, signal_id, expected) -> None:
    assert parse_signal_message(body, signal_id, now=NOW) == expected


@pytest.mark.parametrize("body, match", [
    (b"red", "not JSON"),
    (b'["red"]', "JSON object"),
    (b'{"state": "purple"}', "unknown signal state"),
    (b'{"state": "red", "ts": 1763700000}', "from the edge clock"),
    (b'{"state": "red", "ts": "yesterday"}', "ISO-8601"),
    (b'{"state": "red", "ts": true}', "epoch seconds"),
    (b'{"state": "red"}' + b" " * 5000, "limit"),
])
def test_bad_messages_are_refused(body: bytes, match: str) -> None:
    with pytest.raises(SignalError, match=match):
        parse_signal_message(body, "j1", now=NOW)


def test_mqtt_feed_against_mosquitto() -> None:
    require_service("127.0.0.1", 1883, "Mosquitto")
    board = SignalBoard()
    prefix = f"ioc-test/{uuid.uuid4().hex[:8]}/signals"
    feed = MqttSignalFeed(SignalFeedConfig(mqtt_host="127.0.0.1", mqtt_topic=f"{prefix}/#"), board)
    feed.start()
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        assert feed.connected.wait(10), "MQTT feed did not connect"
        time.sleep(0.3)  # let the SUBSCRIBE reach the broker before publishing
        publisher.connect("127.0.0.1", 1883)
        publisher.loop_start()
        t = time.time()
        for offset, state in ((0.0, "green"), (1.0, "amber"), (2.0, "do")):
            publisher.publish(f"{prefix}/nga-tu-1/bac", json.dumps({"state": state, "ts": t + offset}), qos=1).wait_for_publish(5)
        publisher.publish(f"{prefix}/nga-tu-1/bac", b"garbage", qos=1).wait_for_publish(5)
        deadline = time.time() + 10
        while feed.received + feed.rejected < 4 and time.time() < deadline:
            time.sleep(0.05)
        assert (feed.received, feed.rejected) == (3, 1)
        timeline = board.timeline("nga-tu-1/bac")
        assert timeline.state_at(t + 0.5) == ("green", t)
        assert timeline.state_at(t + 2.5) == ("red", t + 2.0)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        feed.stop()


@pytest.fixture
def http_feed():
    board = SignalBoard()
    feed = HttpSignalFeed(SignalFeedConfig(http_port=0, http_token="s3cret-token"), board)
    feed.start()
    yield feed, board
    feed.stop()


@pytest.mark.parametrize("path, headers, body, status", [
    ("/signals/j1%2Fnam", {"Authorization": "Bearer s3cret-token"}, {"state": "red"}, 204),
    ("/signals/j1", {}, {"state": "red"}, 401),
    ("/signals/j1", {"Authorization": "Bearer wrong-token"}, {"state": "red"}, 401),
    ("/signals/j1", {"Authorization": "Bearer s3cret-token"}, {"state": "blue"}, 400),
    ("/other", {"Authorization": "Bearer s3cret-token"}, {"state": "red"}, 404),
])
def test_http_feed(http_feed, path: str, headers: dict, body: dict, status: int) -> None:
    feed, board = http_feed
    response = httpx.post(f"http://127.0.0.1:{feed.port}{path}", json=body, headers=headers, timeout=5)
    assert response.status_code == status
    if status == 204:
        assert board.timeline("j1/nam").state_at(time.time())[0] == "red"
    else:
        assert board.ids() == [] and "detail" in response.json()


def test_feeds_are_off_by_default() -> None:
    feeds = SignalFeeds(SignalFeedConfig())
    assert feeds.mqtt is None and feeds.http is None
    feeds.start()
    feeds.stop()
