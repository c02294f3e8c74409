"""Traffic signal controller feed into the edge: MQTT topic or HTTP POST → the signal board.

The red-light rule with ``signal: {source: external, signal_id: ...}`` reads the
process-wide `analytics.rules.violations.signal.SIGNALS` board; this module is the I/O
that fills it (analytics itself does no I/O). Messages are JSON::

    {"state": "red", "ts": 1763780055.25}          # ts: epoch seconds or ISO-8601; default: arrival
    {"signal": "j1/bac", "state": "amber"}         # signal id in the body (HTTP), or from the topic

MQTT: topic ``<prefix>/<signal_id>`` (``ioc/signals/nga-tu-hang-xanh/bac``), paho-mqtt,
QoS 1, reconnecting on its own. HTTP: ``POST /signals/<signal_id>`` with an optional
bearer token; 204 when recorded, 400 for a bad message, 401 without the token.
A controller should repeat its state at least every `SignalBoard.stale_s` seconds; a
silent feed reads as "unknown", and unknown never fires.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from pydantic import Field

from analytics.rules.violations.exceptions import SignalError
from analytics.rules.violations.signal import SIGNALS, SignalBoard
from contract import ConfigModel

log = logging.getLogger(__name__)

# Controllers in the field speak English or Vietnamese, with or without diacritics.
COLOUR_ALIASES = {
    "red": "red", "do": "red", "đỏ": "red",
    "amber": "amber", "yellow": "amber", "vang": "amber", "vàng": "amber",
    "green": "green", "xanh": "green",
    "off": "unknown", "dark": "unknown", "unknown": "unknown", "flashing": "unknown",
}
MAX_MESSAGE_BYTES = 4096


class SignalFeedConfig(ConfigModel):
    """Where the edge listens for signal controller messages. Both off by default.

    Example::

        SignalFeedConfig(mqtt_host="127.0.0.1", mqtt_topic="ioc/signals/#", http_port=8091, http_token="s3cret")
    """

    mqtt_host: str | None = Field(None, max_length=255, description="MQTT broker host; None: no MQTT feed")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    mqtt_topic: str = Field("ioc/signals/#", min_length=1, max_length=255,
                            description="subscription; the part matched by # is the signal id")
    mqtt_username: str | None = Field(None, max_length=255, description="MQTT user, if the broker wants one")
    mqtt_password: str | None = Field(None, max_length=255, description="MQTT password")
    http_host: str = Field("127.0.0.1", max_length=255, description="address the HTTP feed binds")
    http_port: int | None = Field(None, ge=0, le=65535, description="HTTP feed port; None: no HTTP feed; 0: any free")
    http_token: str | None = Field(None, min_length=8, max_length=255, description="bearer token the HTTP feed requires")
    max_skew_s: float = Field(30.0, gt=0.0, le=3600.0, description="refuse messages stamped this far from the edge clock")


def parse_signal_message(data: bytes, signal_id: str | None = None, *, now: float | None = None,
                         max_skew_s: float = 30.0) -> tuple[str, float, str]:
    """(signal id, epoch seconds, colour) from a JSON message; `SignalError` says what is wrong."""
    now = time.time() if now is None else now
    if len(data) > MAX_MESSAGE_BYTES:
        raise SignalError(f"signal message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignalError(f"signal message is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise SignalError("signal message must be a JSON object")
    sid = signal_id or body.get("signal")
    if not isinstance(sid, str) or not 1 <= len(sid) <= 128:
        raise SignalError("signal message names no signal (topic suffix, URL or 'signal' field)")
    state = body.get("state")
    colour = COLOUR_ALIASES.get(state.strip().lower()) if isinstance(state, str) else None
    if colour is None:
        raise SignalError(f"unknown signal state {state!r}; expected one of {sorted(COLOUR_ALIASES)}")
    ts = body.get("ts", now)
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise SignalError(f"signal time {body['ts']!r} is not ISO-8601: {exc}") from exc
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise SignalError(f"signal time must be epoch seconds or ISO-8601, got {ts!r}")
    if abs(ts - now) > max_skew_s:
        # A controller with a wrong clock would place red phases where they were not.
        raise SignalError(f"signal time is {ts - now:+.1f} s from the edge clock (limit {max_skew_s:g} s)")
    return sid, float(ts), colour


class MqttSignalFeed:
    """Subscribes to the controller topic and records every message on the board.

    Example::

        feed = MqttSignalFeed(SignalFeedConfig(mqtt_host="127.0.0.1")); feed.start()
        ...; feed.stop()
    """

    def __init__(self, config: SignalFeedConfig, board: SignalBoard = SIGNALS) -> None:
        import paho.mqtt.client as mqtt

        if not config.mqtt_host:
            raise ValueError("MqttSignalFeed needs mqtt_host")
        self.config = config
        self.board = board
        self.prefix = config.mqtt_topic.rstrip("#").rstrip("/")
        self.received = 0
        self.rejected = 0
        self.connected = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ioc-edge-signals-{id(self):x}")
        if config.mqtt_username:
            self._client.username_pw_set(config.mqtt_username, config.mqtt_password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self.connected.clear()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 30)

    def start(self) -> None:
        """Connect in the background (paho retries on its own) and start the network thread."""
        self._client.connect_async(self.config.mqtt_host, self.config.mqtt_port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT signal feed: connection refused: %s", reason)
            return
        client.subscribe(self.config.mqtt_topic, qos=1)  # again after every reconnect
        self.connected.set()

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        suffix = msg.topic[len(self.prefix):].lstrip("/") if msg.topic.startswith(self.prefix) else ""
        try:
            sid, ts, colour = parse_signal_message(msg.payload, suffix or None, max_skew_s=self.config.max_skew_s)
            self.board.record(sid, ts, colour)
            self.received += 1
        except SignalError as exc:
            self.rejected += 1
            log.warning("MQTT signal message on %s refused: %s", msg.topic, exc)


class HttpSignalFeed:
    """``POST /signals/<signal_id>`` into the board, on a small threaded HTTP server.

    Example::

        feed = HttpSignalFeed(SignalFeedConfig(http_port=8091, http_token="s3cret-token")); feed.start()
        httpx.post(f"http://127.0.0.1:{feed.port}/signals/j1/bac", json={"state": "red"},
                   headers={"Authorization": "Bearer s3cret-token"})
    """

    def __init__(self, config: SignalFeedConfig, board: SignalBoard = SIGNALS) -> None:
        if config.http_port is None:
            raise ValueError("HttpSignalFeed needs http_port")
        self.config = config
        self.board = board
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                status, message = feed.handle(self.path, self.headers.get("Authorization"),
                                              self.rfile.read(min(int(self.headers.get("Content-Length") or 0),
                                                                  MAX_MESSAGE_BYTES + 1)))
                body = json.dumps({"detail": message}).encode() if message else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("signal feed: " + fmt, *args)

        self._server = ThreadingHTTPServer((config.http_host, config.http_port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def handle(self, path: str, authorization: str | None, data: bytes) -> tuple[int, str | None]:
        """(HTTP status, error) for one POST; the board changes only on 204."""
        token = self.config.http_token
        if token is not None and not hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode()):
            return 401, "bearer token required"
        if not path.startswith("/signals/") or len(path) <= len("/signals/"):
            return 404, "POST /signals/<signal_id>"
        try:
            sid, ts, colour = parse_signal_message(data, unquote(path[len("/signals/"):]), max_skew_s=self.config.max_skew_s)
            self.board.record(sid, ts, colour)
        except SignalError as exc:
            return 400, str(exc)
        return 204, None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="signal-feed-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


class SignalFeeds:
    """Both feeds as configured, started and stopped together (what the edge worker holds).

    Example::

        feeds = SignalFeeds(site.signals); feeds.start(); ...; feeds.stop()
    """

    def __init__(self, config: SignalFeedConfig, board: SignalBoard = SIGNALS) -> None:
        self.mqtt = MqttSignalFeed(config, board) if config.mqtt_host else None
        self.http = HttpSignalFeed(config, board) if config.http_port is not None else None

    def start(self) -> None:
        for feed in (self.mqtt, self.http):
            if feed is not None:
                feed.start()

    def stop(self) -> None:
        for feed in (self.mqtt, self.http):
            if feed is not None:
                feed.stop()
