"""Shared helpers for edge tests: site configs built in code, and an event recorder."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from edge.config import SiteConfig
from contract import Event


class Recorder:
    """Collects every event a worker stored (its ``on_event``) and waits for conditions."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, camera: str | None = None, type: str | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self.events if (camera is None or e.camera == camera)
                    and (type is None or e.type == type)]

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    summary = [(e.camera, e.type) for e in self.events]
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}; events: {summary}")
                self._cond.wait(min(left, 0.5))


def site(data_dir: Path, hub_url: str, cameras: list[dict[str, Any]], token: str = "t", **extra: Any) -> SiteConfig:
    """A validated site config for tests (preview on a free port)."""
    return SiteConfig.model_validate({
        "edge": {"id": extra.pop("edge_id", "edge-test"), "data_dir": str(data_dir)},
        "hub": {"url": hub_url, "token": token, "heartbeat_s": extra.pop("heartbeat_s", 2)},
        "delivery": extra.pop("delivery", {"backoff_initial_s": 0.2, "backoff_max_s": 2}),
        "preview": {"enabled": True, "port": 0},
        "cameras": cameras,
        **extra,
    })


def counting_scene(interval_s: float = 1.0) -> dict[str, Any]:
    """A counting line across both carriageways of highway_720p.mp4 (y = 450)."""
    return {
        "lines": [{"name": "gate", "start": [0, 450], "end": [1280, 450]}],
        "rules": [{"type": "line_count", "line": "gate", "interval_s": interval_s}],
    }
