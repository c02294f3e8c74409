"""The review desk end to end: a real edge worker runs YOLOX on the real highway video,
finds wrong-way violations (one carriageway declared the other way), signs and delivers
their evidence to a real hub process; a traffic police officer, in headless Chromium,
finds one in the queue, opens it, corrects the plate, confirms and exports it.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from bench._hub import HubProcess, Site, scratch_database, seed_site_blocking
from edge.worker import EdgeWorker
from contract.evidence_verify import parse_trusted_keys, verify_zip
from tests.conftest import require_service
from tests.e2e.conftest import shoot
from tests.edge.helpers import site as site_config

POLICE = ("police_hcm", "police-password-1", "police", "26734")
OTHER_POLICE = ("police_ben_thanh", "police-password-2", "police", "26737")
# The right carriageway of highway_720p.mp4 declared as driving towards the camera:
# its real traffic, driving away, is wrong-way (see tests/edge/test_evidence_violations.py).
SCENE = {
    "lanes": [{"name": "right_cw", "polygon": [[690, 140], [800, 140], [1280, 360], [1280, 720], [970, 720]],
               "direction": [0, 1]}],
    "rules": [{"type": "wrong_way_violation", "lanes": ["right_cw"], "evidence": ["overview", "plate", "clip"]}],
}


def _login_api(url: str, who: tuple[str, str, str, str]) -> dict[str, str]:
    r = httpx.post(url + "/api/v1/auth/login", json={"username": who[0], "password": who[1]}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


@pytest.fixture(scope="module")
def violation_hub(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[tuple[HubProcess, Site, str]]:
    """A hub with violations proposed by a real edge worker; yields (hub, site, event id)."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    data_dir = tmp_path_factory.mktemp("hub")
    with scratch_database("review") as db_url, HubProcess.start(db_url, data_dir) as hub:
        site = seed_site_blocking(db_url, cameras=1, users=[POLICE, OTHER_POLICE])
        camera = {
            "id": site.cameras[0], "name": "Xa lộ Hà Nội km 5", "place": "Phường Bến Nghé, Quận 1", "unit": site.commune,
            "url": str(shared_data / "highway_720p.mp4"), "loop": True, "detect_fps": 5,
            "detector": {"type": "yolox", "model": str(shared_data / "yolox_nano.onnx"), "confidence": 0.3},
            "scene": SCENE,
        }
        cfg = site_config(tmp_path_factory.mktemp("edge"), hub.url, [camera], token=site.edge_token,
                          edge_id=site.edge_id,
                          violations={"evidence": {"clip_before_s": 3, "clip_after_s": 2},
                                      "plates": {"type": "rapidocr"}})
        worker = EdgeWorker(cfg)
        worker.start()
        headers = _login_api(hub.url, POLICE)
        event_id = None
        seen: list[Any] = []
        diag: Any = None
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and event_id is None:
                items = httpx.get(hub.url + "/api/v1/violations", headers=headers, timeout=10).json()["items"]
                complete = [i for i in items if i["type"] == "traffic.wrong_way"]
                for item in complete:
                    detail = httpx.get(f"{hub.url}/api/v1/violations/{item['event_id']}", headers=headers, timeout=10).json()
                    kinds = {e["kind"] for e in detail["evidence"] if e["present"]}
                    seen.append((item["event_id"], sorted(kinds), detail["manifest"]))
                    if detail["manifest"] and detail["manifest"]["verified"] and {"overview", "clip"} <= kinds:
                        event_id = item["event_id"]
                        break
                diag = worker.heartbeat_body()
                time.sleep(2)
        finally:
            worker.stop()
        assert event_id, (f"the edge worker delivered no verified wrong-way violation within 180 s; seen {seen[-3:]};"
                          f" worker stats {diag}\n" + hub.log_tail())
        yield hub, site, event_id


def _login_page(browser: Any, url: str, who: tuple[str, str, str, str], path: str) -> Any:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN", accept_downloads=True)
    page = context.new_page()
    page.js_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))  # type: ignore[attr-defined]
    page.goto(url + path)
    page.wait_for_url("**/login?next=*")
    page.fill("#username", who[0])
    page.fill("#password", who[1])
    page.click("#login-submit")
    page.wait_for_url(url + path)
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    return page


def wait_js(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Poll `expression` until truthy. (Playwright's wait_for_function compiles its
    predicate with eval inside the page, which the pages' strict CSP rightly refuses.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def test_edge_violation_is_reviewed_confirmed_and_exported(browser: Any, violation_hub, artifacts_dir: Path,
                                                         tmp_path: Path) -> None:
    hub, site, event_id = violation_hub
    page = _login_page(browser, hub.url, POLICE, "/review")
    row = page.locator(f"#rq-body tr[data-id='{event_id}']")
    row.wait_for(timeout=10_000)
    shoot(page, artifacts_dir, "review-queue.png")
    row.locator("a").click()
    page.wait_for_url(f"{hub.url}/review/{event_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    # The evidence really loads: the overview image decodes and the clip has a duration.
    wait_js(page, "document.getElementById('rv-overview').naturalWidth > 0")
    wait_js(page, "document.getElementById('rv-clip').readyState >= 1 && "
                  "document.getElementById('rv-clip').duration > 1", timeout=15)
    assert "Hợp lệ" in page.text_content("#rv-integrity")
    page.click("#rv-next-frame")
    wait_js(page, "document.getElementById('rv-clip').currentTime > 0")

    page.fill("#rv-plate", "51f12345")
    page.click("#rv-plate-save")
    wait_js(page, "document.getElementById('rv-plate').value === '51F-123.45'")
    page.click("#rv-confirm")
    page.wait_for_selector("#rv-pdf[aria-disabled='false']", timeout=10_000)
    assert "police_hcm" in page.text_content("#rv-decided")
    shoot(page, artifacts_dir, "review-confirmed.png")

    with page.expect_download() as pdf_download:
        page.click("#rv-pdf")
    pdf_path = tmp_path / "report.pdf"
    pdf_download.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    with page.expect_download() as zip_download:
        page.click("#rv-zip")
    zip_path = tmp_path / "evidence.zip"
    zip_download.value.save_as(zip_path)
    # Verified against the hub's registry of edge keys (issue 8), not the key in the ZIP.
    keys = httpx.get(f"{hub.url}/api/v1/edges/keys", headers=_login_api(hub.url, POLICE), timeout=10)
    anywhere, pinned = parse_trusted_keys(keys.text)
    report = verify_zip(zip_path, trusted_keys=anywhere, edge_keys=pinned)
    assert report.ok, [p.code for p in report.problems]
    assert "report.pdf" in zipfile.ZipFile(zip_path).namelist()
    assert page.js_errors == []  # type: ignore[attr-defined]

    # The other commune's officer sees nothing of it.
    other = _login_api(hub.url, OTHER_POLICE)
    assert httpx.get(f"{hub.url}/api/v1/violations/{event_id}", headers=other, timeout=10).status_code == 404
