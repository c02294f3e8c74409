"""Screenshots of the wall for the docs (issue 10), so they stay true: Vietnamese and
English at 1920x1080 and 3840x2160, with the map and its markers, grouped alarms, KPIs,
and no raw JSON or payload keys on the first screen. Written to test-artifacts/screens/;
with IOC_UPDATE_SCREENS=1 to docs/screens/ (the pictures the docs show), so a test run
never rewrites tracked files."""

from __future__ import annotations

import os

import itertools
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import expect

from bench._hub import HubProcess, scratch_database, seed_site_blocking
from tests.conftest import require_service
from tests.e2e.conftest import USERS, LiveHub

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / (
    "docs/screens" if os.environ.get("IOC_UPDATE_SCREENS") == "1" else "test-artifacts/screens")
CAMERAS = [  # spread over Hồ Chí Minh city centre
    ("cam-01", "Ngã tư Hàng Xanh", 10.8016, 106.7110),
    ("cam-02", "Chợ Bến Thành", 10.7725, 106.6980),
    ("cam-03", "Cầu Sài Gòn", 10.7985, 106.7250),
    ("cam-04", "Đại lộ Võ Văn Kiệt", 10.7560, 106.6700),
    ("cam-05", "Nút giao An Phú", 10.7930, 106.7480),
    ("cam-06", "Vòng xoay Dân Chủ", 10.7780, 106.6810),
]


@pytest.fixture(scope="module")
def scene_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    require_service("127.0.0.1", 5432, "PostgreSQL")
    with scratch_database("screens") as db_url:
        with HubProcess.start(db_url, tmp_path_factory.mktemp("hub")) as hub:
            site = seed_site_blocking(db_url, cameras=6, users=list(USERS.values()))
            body = {"cameras": [{"id": c, "name": n, "unit": site.commune, "lat": lat, "lon": lon,
                                 "enabled": c != "cam-06"} for c, n, lat, lon in CAMERAS]}
            r = httpx.put(hub.url + "/api/v1/edges/self/cameras", json=body,
                          headers={"Authorization": "Bearer " + site.edge_token}, timeout=10)
            assert r.status_code == 200, r.text
            live = LiveHub(url=hub.url, site=site, process=hub, _seq=itertools.count(1))
            live.heartbeat({"cam-01": "online", "cam-02": "online", "cam-03": "online", "cam-04": "offline",
                            "cam-05": "online", "cam-06": "offline"})
            now = datetime.now(timezone.utc).isoformat()
            live.post_metrics([
                {"series": "dvc.on_time_rate", "ts": now, "value": 97.3, "unit": "79", "uom": "%"},
                {"series": "dvc.online_applications", "ts": now, "value": 1532, "unit": "79", "uom": "hồ sơ"},
                {"series": "feedback.open", "ts": now, "value": 14, "unit": "79", "uom": "phản ánh"},
                {"series": "air.aqi", "ts": now, "value": 87, "unit": "79", "uom": "AQI"},
            ])
            events = [
                live.event("count.line_crossing", "info", camera="cam-05",
                           payload={"counts": {"away": {"car": 77, "motorbike": 412}}, "line": "middle"}),
                *[live.event("traffic.wrong_way", "warning", camera="cam-03",
                             payload={"class": "motorbike", "track": 30 + i, "box": [310, 235, 331, 258],
                                      "backward_frames": 5, "lane": "làn 2"}) for i in range(4)],
                live.event("traffic.speeding", "warning", camera="cam-01",
                           payload={"class": "car", "plate": "51K-246.80", "speed_kmh": 78, "limit_kmh": 60}),
                live.event("camera.offline", "warning", camera="cam-04",
                           payload={"reason": "receiving 1280x720 from /srv/ioc/videos/x.mp4 stopped"}),
                live.event("security.intrusion", "critical", camera="cam-02", payload={"zone": "kho bạc"}),
            ]
            for ev in events:
                live.post_events(ev)
            yield live


def _login(browser: Any, hub: LiveHub, lang: str, width: int, height: int) -> Any:
    username, password, _, _ = USERS["operator"]
    context = browser.new_context(viewport={"width": width, "height": height})
    login = httpx.post(hub.url + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
    assert login.status_code == 200
    cookies = [{"name": c.name, "value": c.value, "url": hub.url} for c in login.cookies.jar]
    context.add_cookies(cookies)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{hub.url}/wall/1?lang={lang}")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_wall_screenshots_for_the_docs(browser: Any, scene_hub: LiveHub, lang: str, width: int, height: int) -> None:
    page = _login(browser, scene_hub, lang, width, height)
    expect(page.locator("#map circle.map-marker")).to_have_count(6)
    expect(page.locator("#feed li.ev")).to_have_count(5)
    expect(page.locator("#feed li.ev[data-count='4']")).to_have_count(1)
    expect(page.locator(".kpi")).to_have_count(4)
    page.wait_for_timeout(1600)  # let the arrival flash fade
    first_screen = page.locator("main").inner_text()
    for raw in ("{", "box", "backward_frames", "/srv/", "counts", "26734", "track"):
        assert raw not in first_screen, raw
    if lang == "en":
        assert not re.search(r"hồ sơ|phản ánh|Trực tuyến|Mất tín hiệu|Đã tắt", first_screen)
    # Nothing on the first screen is cut off or scrolls out: the grid fits the viewport.
    box = page.locator("main").bounding_box()
    assert box["y"] + box["height"] <= height + 1
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"wall-{lang}-{width}x{height}.png"))
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()
