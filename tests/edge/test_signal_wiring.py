"""The edge worker runs the traffic-signal controller feed its site file configures, so a
red-light rule with an external signal gets states while the worker runs, and not after."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from analytics.rules.violations.signal import SIGNALS
from edge.worker import EdgeWorker
from tests.conftest import free_port
from tests.edge.helpers import site

TOKEN = "controller-secret-1"


def test_worker_runs_the_configured_http_signal_feed(tmp_path: Path) -> None:
    cfg = site(tmp_path, f"http://127.0.0.1:{free_port()}", [],
               signals={"http_port": 0, "http_token": TOKEN})
    worker = EdgeWorker(cfg)
    worker.start()
    try:
        assert worker.signals.http is not None and worker.signals.mqtt is None
        url = f"http://127.0.0.1:{worker.signals.http.port}/signals/nga-tu-1-bac"
        assert httpx.post(url, json={"state": "đỏ"}, timeout=5).status_code == 401
        r = httpx.post(url, json={"state": "đỏ"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert r.status_code == 204, r.text
        colour, _since = SIGNALS.timeline("nga-tu-1-bac").state_at(time.time())
        assert colour == "red"
    finally:
        worker.stop()
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={"state": "green"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)


def test_no_feed_unless_configured(tmp_path: Path) -> None:
    worker = EdgeWorker(site(tmp_path, f"http://127.0.0.1:{free_port()}", []))
    assert worker.signals.http is None and worker.signals.mqtt is None
