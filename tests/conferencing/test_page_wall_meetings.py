"""The wall lists running meetings from `GET /api/v1/meetings?state=running` (headless Chromium)."""

from __future__ import annotations

import shutil

import pytest

from ioc.services.meetings import issue_relay_hub_token
from tests.conferencing.test_browser_meet import CHROMIUM, CHROMIUM_ARGS
from tests.ioc.conftest import Factory, Hub, database_url, db, db_area, hub, hub_settings, make  # noqa: F401


@pytest.mark.e2e
@pytest.mark.timeout(120)
async def test_wall_shows_running_meeting_with_sites(hub: Hub, make: Factory) -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    from playwright.async_api import async_playwright

    tree = await make.tree()
    chair = await make.user("official", tree.province)
    created = await hub.client.post("/api/v1/meetings", headers=chair.headers, json={
        "title": "Họp trực tuyến phòng chống bão", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: "ws://127.0.0.1:18800/ws"}})
    meeting = created.json()["id"]
    other = await hub.client.post("/api/v1/meetings", headers=chair.headers, json={
        "title": "Chưa bắt đầu", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: "ws://127.0.0.1:18800/ws"}})
    assert (await hub.client.post(f"/api/v1/meetings/{meeting}/start", headers=chair.headers)).status_code == 200
    # Two sites present, as their relay reported them.
    secret = hub.app.state.settings.relay_secret.get_secret_value()
    relay = {"Authorization": "Bearer " + issue_relay_hub_token(tree.province, secret=secret)}
    for sub, unit in (("u1-a", tree.districts[0]), ("u2-b", tree.communes[3])):
        r = await hub.client.post(f"/api/v1/meetings/{meeting}/attendance", headers=relay, json={
            "participant": sub, "name": sub, "unit": unit, "role": "participant", "event": "join"})
        assert r.status_code == 204, r.text

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1920, "height": 1080})
            login = await context.request.post(hub.base_url + "/api/v1/auth/login", data={
                "username": chair.user.username, "password": chair.password})
            assert login.ok
            page = await context.new_page()
            await page.goto(hub.base_url + "/wall/1")
            item = page.locator(f'#meetings li[data-meeting="{meeting}"]')
            await item.wait_for(timeout=15_000)
            text = await item.text_content()
            assert "Họp trực tuyến phòng chống bão" in text and "2 điểm cầu" in text and "Tỉnh" in text
            assert await page.locator(f'#meetings li[data-meeting="{other.json()["id"]}"]').count() == 0
        finally:
            await browser.close()
