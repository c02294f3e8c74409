"""Camera declaration and heartbeats to the hub, in one background thread.

At start the edge declares its cameras (``PUT /api/v1/edges/self/cameras``), retrying
with capped backoff until the hub accepts, and registers its evidence signing key
(``PUT /api/v1/edges/self/key``); then every ``interval_s`` it posts a heartbeat
with per-camera status, detection fps, dropped (missed) frames, detector latency and
the outbox depth. A failed heartbeat is logged once and tried again next period: they
are snapshots, so a lost one needs no resend.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable

from contract.backoff import Backoff
from edge.exceptions import HubError
from edge.hub import HubClient

log = logging.getLogger(__name__)


class Heartbeat:
    """Declares cameras, then reports ``body()`` every ``interval_s`` seconds.

    Example::

        hb = Heartbeat(hub, cameras=[{"id": "cam-01", ...}], body=worker.heartbeat_body, interval_s=10)
        hb.start(); ...; hb.stop()
    """

    def __init__(self, hub: HubClient, cameras: list[dict[str, Any]], body: Callable[[], dict[str, Any]],
                 interval_s: float = 10.0, backoff_max_s: float = 30.0, public_key_b64: str | None = None) -> None:
        self.hub = hub
        self.public_key_b64 = public_key_b64
        self.key_registered = threading.Event()
        self.cameras = cameras
        self.body = body
        self.interval_s = interval_s
        self.backoff_max_s = backoff_max_s
        self.declared = threading.Event()
        self.sent = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        backoff = Backoff(0.5, max(0.5, self.backoff_max_s))
        while not self._stop.is_set():
            try:
                self.hub.put_cameras(self.cameras)
                self.declared.set()
                log.info("declared %d camera(s) to the hub", len(self.cameras))
                self._register_key()
                break
            except HubError as exc:
                self._note(f"camera declaration failed: {exc}")
            if self._stop.wait(backoff.next()):
                return
        while not self._stop.is_set():
            try:
                body = self.body()
                body["ts"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
                self.hub.heartbeat(body)
                self.sent += 1
                if self.last_error is not None:
                    log.info("heartbeats reach the hub again")
                    self.last_error = None
            except HubError as exc:
                self._note(f"heartbeat failed: {exc}")
            except Exception:  # building the body must never end the heartbeat
                log.exception("heartbeat failed unexpectedly")
            if self._stop.wait(self.interval_s):
                return

    def _register_key(self) -> None:
        # The hub checks violation manifests against this key; a different key already
        # registered needs an admin to clear it, so a refusal is reported, not retried.
        if self.public_key_b64 is None:
            return
        try:
            self.hub.put_key(self.public_key_b64)
            self.key_registered.set()
        except HubError as exc:
            log.error("the hub refused this edge's signing key (violation evidence will not verify "
                      "until an admin clears the old key): %s", exc)

    def _note(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s", message)
        self.last_error = message
