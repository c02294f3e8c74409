"""Browser end-to-end fixtures: a real hub process on a fresh PostgreSQL database, seeded
through the hub's own services and edge API, and headless Chromium driven by Playwright.

Nothing is replaced: the hub is its production command, `ioc hub`, in its own process,
the browser is the machine's Chromium (`apt-get install chromium`).
"""

from __future__ import annotations

import itertools
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from bench._hub import HubProcess, Site, declare_cameras, scratch_database, seed_site_blocking
from contract import new_event_id
from tests.conftest import require_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]
USERS = {
    "operator": ("web_op", "op-password-1", "operator", "79"),
    "admin": ("web_admin", "admin-password-1", "admin", "79"),
    "viewer": ("web_viewer", "viewer-password-1", "viewer", "26734"),
}


@dataclass
class LiveHub:
    """A running hub with a seeded site; `post_events` sends envelopes as the site's edge."""

    url: str
    site: Site
    process: HubProcess
    _seq: Iterator[int]

    def event(self, type_: str = "traffic.red_light", severity: str = "warning", camera: str | None = None,
              payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """A fresh envelope from the site's edge (new id, next seq, now)."""
        return {
            "id": str(new_event_id()),
            "edge": self.site.edge_id,
            "seq": next(self._seq),
            "camera": camera or self.site.cameras[0],
            "unit": self.site.commune,
            "type": type_,
            "severity": severity,
            "ts": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "payload": payload or {},
            "evidence": [],
        }

    def post_events(self, *events: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/events with the edge token; fails the test unless all are accepted."""
        response = httpx.post(self.url + "/api/v1/events", json={"events": list(events)},
                              headers={"Authorization": "Bearer " + self.site.edge_token}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert sorted(body["accepted"]) == sorted(e["id"] for e in events), body
        return body


    preview_url: str | None = None

    def heartbeat(self, statuses: dict[str, str], *, fps: float = 12.5, detector: str = "yolox") -> None:
        """POST /api/v1/edges/self/heartbeat as the site's edge: {camera id: "online"|"offline"}."""
        body = {
            "ts": datetime.now(timezone.utc).isoformat(),
            "detector": {"kind": detector, "model": "yolox_nano.onnx" if detector == "yolox" else None},
            "preview_url": self.preview_url,
            "outbox_depth": 0,
            "cameras": [{"id": cam, "status": st, "fps": fps if st == "online" else 0.0, "dropped": 0, "latency_ms": 40.0}
                        for cam, st in statuses.items()],
        }
        response = httpx.post(self.url + "/api/v1/edges/self/heartbeat", json=body,
                              headers={"Authorization": "Bearer " + self.site.edge_token}, timeout=10)
        assert response.status_code == 200, response.text

    def admin_headers(self) -> dict[str, str]:
        """A bearer token of the admin from the login API."""
        username, password, _, _ = USERS["admin"]
        login = httpx.post(self.url + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
        assert login.status_code == 200, login.text
        return {"Authorization": "Bearer " + login.json()["access_token"]}

    def post_metrics(self, samples: list[dict[str, Any]]) -> None:
        """POST /api/v1/metrics as the admin."""
        response = httpx.post(self.url + "/api/v1/metrics", json={"samples": samples}, timeout=10,
                              headers=self.admin_headers())
        assert response.status_code == 200, response.text

    def start_meeting(self, title: str) -> str:
        """Create and start a province meeting as the admin; returns its id."""
        headers = self.admin_headers()
        spec = {"title": title, "chair_unit": self.site.province, "invited_root": self.site.province,
                "relays": {self.site.province: "ws://127.0.0.1:9/ws"}}
        created = httpx.post(self.url + "/api/v1/meetings", json=spec, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        meeting_id = created.json()["id"]
        started = httpx.post(f"{self.url}/api/v1/meetings/{meeting_id}/start", headers=headers, timeout=10)
        assert started.status_code == 200, started.text
        return meeting_id


@pytest.fixture(scope="module")
def edge_preview(shared_data: Path) -> Iterator[str]:
    """The edge's MJPEG preview server (video.mjpeg), fed with frames of the real videos:
    cam-01/cam-02 the highway, cam-03 the street crossing. Yields its base URL."""
    import cv2

    from video.mjpeg import MjpegServer

    server = MjpegServer("127.0.0.1", 0).start()
    stop = threading.Event()
    feeds = {"cam-01": "highway_720p.mp4", "cam-02": "highway_720p.mp4", "cam-03": "street_crossing_320p.mp4"}

    def feed(camera: str, video: str, offset: int) -> None:
        capture = cv2.VideoCapture(str(shared_data / video))
        capture.set(cv2.CAP_PROP_POS_FRAMES, offset)
        while not stop.is_set():
            ok, frame = capture.read()
            if not ok:  # loop the file
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            frame = cv2.resize(frame, (640, 360))
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])
            if ok:
                server.publish(camera, jpeg.tobytes())
            stop.wait(0.2)  # 5 fps is plenty for a preview and spares the shared CPU
        capture.release()

    threads = [threading.Thread(target=feed, args=(cam, video, i * 150), daemon=True)
               for i, (cam, video) in enumerate(feeds.items())]
    for thread in threads:
        thread.start()
    try:
        yield server.url
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        server.stop()


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory: pytest.TempPathFactory, edge_preview: str) -> Iterator[LiveHub]:
    """A hub process on a scratch database with units, three users, an edge with a live
    preview and four cameras (cam-04 has no preview stream)."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    data_dir = tmp_path_factory.mktemp("hub")
    with scratch_database("web") as db_url:
        with HubProcess.start(db_url, data_dir) as hub:
            site = seed_site_blocking(db_url, cameras=4, users=list(USERS.values()))
            declare_cameras(hub.url, site)
            live = LiveHub(url=hub.url, site=site, process=hub, _seq=itertools.count(1), preview_url=edge_preview)
            now = datetime.now(timezone.utc).isoformat()
            live.post_metrics([
                {"series": "dvc.on_time_rate", "ts": now, "value": 97.3, "unit": "79", "uom": "%"},
                {"series": "dvc.online_applications", "ts": now, "value": 1532, "unit": "79"},
                {"series": "feedback.open", "ts": now, "value": 14, "unit": "79"},
                {"series": "air.aqi", "ts": now, "value": 87, "unit": "760", "uom": "AQI"},
            ])
            live.heartbeat({cam: "online" for cam in site.cameras})
            live.start_meeting("Giao ban trực tuyến an toàn giao thông tuần 48")
            yield live


@pytest.fixture(scope="module")
def small_queue_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    """A second hub whose websocket clients have an 8-message queue (`IOC_WS_QUEUE=8`), so a
    500-event batch overflows it at once and the hub tells the wall it lagged."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    with scratch_database("web") as db_url:
        with HubProcess.start(db_url, tmp_path_factory.mktemp("hub"), extra_env={"IOC_WS_QUEUE": "8"}) as hub:
            site = seed_site_blocking(db_url, cameras=2, users=list(USERS.values()))
            declare_cameras(hub.url, site)
            yield LiveHub(url=hub.url, site=site, process=hub, _seq=itertools.count(1))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (the Debian package, never a downloaded build)."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium chromium-driver (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def login(browser: Any, hub: LiveHub, role: str, path: str) -> Any:
    """A new 1920x1080 page, logged in as `role` through the login form, showing `path`."""
    username, password, _, _ = USERS[role]
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(hub.url + path)
    # Not logged in yet: the page sends us to the login form, remembering where we were going.
    page.wait_for_url("**/login?next=*")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(hub.url + path)
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def shoot(page: Any, artifacts: Path, name: str) -> Path:
    """Save a full-viewport screenshot under test-artifacts/."""
    path = artifacts / name
    page.screenshot(path=str(path))
    return path
