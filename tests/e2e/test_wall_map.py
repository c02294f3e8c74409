"""The wall's map (issue 10): the province outline drawn from the shipped, simplified
GeoJSON, cameras as markers coloured by state, a click that focuses the camera's tile,
and disabled cameras grey on the map and on their tile. Headless Chromium at 1920x1080,
both languages, against a real hub process and PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import expect

from bench._hub import CAMERA_NAMES, HubProcess, scratch_database, seed_site_blocking
from tests.conftest import require_service
from tests.e2e.conftest import USERS, LiveHub, login, shoot

pytestmark = pytest.mark.e2e

# Four cameras in Phường Bến Nghé (HCMC); cam-04 is declared disabled by its edge.
POSITIONS = [(10.7769, 106.7009), (10.7626, 106.6602), (10.8231, 106.6297), (10.7300, 106.7200)]


@pytest.fixture(scope="module")
def map_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    require_service("127.0.0.1", 5432, "PostgreSQL")
    with scratch_database("map") as db_url:
        with HubProcess.start(db_url, tmp_path_factory.mktemp("hub")) as hub:
            site = seed_site_blocking(db_url, cameras=4, users=list(USERS.values()))
            body = {"cameras": [
                {"id": cam, "name": CAMERA_NAMES[i], "unit": site.commune, "lat": lat, "lon": lon,
                 "enabled": cam != "cam-04"}
                for i, (cam, (lat, lon)) in enumerate(zip(site.cameras, POSITIONS))
            ]}
            r = httpx.put(hub.url + "/api/v1/edges/self/cameras", json=body,
                          headers={"Authorization": "Bearer " + site.edge_token}, timeout=10)
            assert r.status_code == 200, r.text
            live = LiveHub(url=hub.url, site=site, process=hub, _seq=itertools.count(1))
            live.heartbeat({"cam-01": "online", "cam-02": "offline", "cam-03": "online", "cam-04": "offline"})
            now = datetime.now(timezone.utc).isoformat()
            # KPI feeds send Vietnamese units of measure (the demo does): EN must not show them.
            live.post_metrics([
                {"series": "dvc.online_applications", "ts": now, "value": 1532, "unit": "79", "uom": "hồ sơ"},
                {"series": "feedback.open", "ts": now, "value": 14, "unit": "79", "uom": "phản ánh"},
            ])
            live.post_events(live.event("count.line_crossing", "info", camera="cam-01",
                                        payload={"count": 42, "line": "middle"}))
            yield live


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_map_shows_the_province_and_cameras_by_state(browser: Any, map_hub: LiveHub, artifacts_dir: Path,
                                                       lang: str) -> None:
    page = login(browser, map_hub, "operator", f"/wall/1?lang={lang}")
    page.wait_for_selector("#map svg path.map-province")
    # Only the user's province: Hồ Chí Minh, one outline.
    assert page.locator("#map path.map-province").count() == 1
    assert page.locator("#map path.map-province").get_attribute("data-unit") == "79"
    expect(page.locator("#map-meta")).to_have_text("Thành phố Hồ Chí Minh")
    markers = page.locator("#map circle.map-marker")
    expect(markers).to_have_count(4)
    states = {m.get_attribute("data-camera"): m.get_attribute("data-state") for m in markers.all()}
    # cam-03 pulses already on the second run: the first one raised an alarm there.
    assert states.pop("cam-03") == ("online" if lang == "vi" else "alarm")
    assert states == {"cam-01": "online", "cam-02": "offline", "cam-04": "disabled"}
    # Markers sit inside the drawn outline's box (the projection is fitted to it).
    box = page.locator("#map path.map-province").bounding_box()
    for marker in markers.all():
        mb = marker.bounding_box()
        assert box["x"] <= mb["x"] + mb["width"] / 2 <= box["x"] + box["width"]
        assert box["y"] <= mb["y"] + mb["height"] / 2 <= box["y"] + box["height"]
    # A disabled camera is grey "disabled", not red "signal lost".
    tile = page.locator(".cam[data-camera='cam-04']")
    expect(tile).to_have_attribute("data-status", "disabled")
    expect(tile.locator(".cam-status")).to_have_text("Disabled" if lang == "en" else "Đã tắt")
    assert page.locator(".cam[data-camera='cam-02']").get_attribute("data-status") == "offline"
    # A tile without a picture says why.
    en = lang == "en"
    expect(tile.locator(".cam-note")).to_have_text(
        "Camera switched off in the site configuration" if en else "Camera đã được tắt trong cấu hình")
    expect(page.locator(".cam[data-camera='cam-02'] .cam-note")).to_have_text(
        "No picture from the camera" if en else "Không nhận được hình từ camera")
    expect(page.locator(".cam[data-camera='cam-01'] .cam-note")).to_contain_text(
        "offers no live picture" if en else "chưa cung cấp hình", timeout=5_000)
    # A warning at cam-03 makes its marker pulse as an alarm.
    ev = map_hub.event("security.intrusion", "critical", camera="cam-03", payload={"zone": "restricted"})
    map_hub.post_events(ev)
    expect(page.locator("#map circle[data-camera='cam-03']")).to_have_attribute("data-state", "alarm", timeout=3000)
    # Clicking a marker focuses that camera's tile.
    page.locator("#map circle[data-camera='cam-02']").click()
    expect(page.locator(".cam[data-camera='cam-02']")).to_have_class("cam focused")
    assert page.locator(".cam.focused").count() == 1
    # ... and lists its last events under the map; cam-03 has the intrusion.
    expect(page.locator("#map-camera strong")).to_have_text("Chợ Bến Thành")
    page.locator("#map circle[data-camera='cam-03']").click()
    expect(page.locator("#map-camera strong")).to_have_text("Cầu Sài Gòn")
    expect(page.locator(f"#map-camera li[data-id='{ev['id']}']")).to_contain_text(
        "Intrusion" if lang == "en" else "Xâm nhập khu vực cấm")
    # Words: no raw payload key, no Vietnamese unit of measure in English.
    expect(page.locator(".kpi")).to_have_count(2)
    wall_text = page.locator("main").inner_text()
    if lang == "en":
        for word in ("hồ sơ", "phản ánh", "Trực tuyến", "Mất tín hiệu"):
            assert word not in wall_text, word
        assert "applications" in wall_text and "reports" in wall_text
    assert "line:" not in wall_text and ("Line: middle" if lang == "en" else "Vạch: middle") in wall_text
    shoot(page, artifacts_dir, f"wall-map-{lang}.png")
    assert not page.js_errors  # type: ignore[attr-defined]


def test_outline_is_scoped_to_the_users_province(map_hub: LiveHub) -> None:
    username, password, _, _ = USERS["viewer"]  # a commune user (26734)
    login_r = httpx.post(map_hub.url + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
    headers = {"Authorization": "Bearer " + login_r.json()["access_token"]}
    body = httpx.get(map_hub.url + "/api/v1/map/outline", headers=headers, timeout=10).json()
    assert [p["unit"] for p in body["provinces"]] == ["79"]
    lon0, lat0, lon1, lat1 = body["bbox"]
    # Hồ Chí Minh after the 2025 merger: with Bình Dương and Bà Rịa–Vũng Tàu (Côn Đảo).
    assert 106.0 < lon0 < 106.8 < lon1 < 108.0 and 8.4 < lat0 < 10.7 < lat1 < 11.6
    assert httpx.get(map_hub.url + "/api/v1/map/outline", timeout=10).status_code == 401
    # The whole file is not a static asset.
    assert httpx.get(map_hub.url + "/static/geo/provinces.json", timeout=10).status_code == 404
