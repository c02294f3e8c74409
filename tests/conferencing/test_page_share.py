"""Sharing a camera from the meeting page (headless Chromium): an operator types an edge
preview address, the hub publishes it, and the camera's picture appears in the grid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conferencing.config import RelayConfig
from conferencing.server import Relay
from tests.conferencing.test_browser_meet import CHROMIUM, CHROMIUM_ARGS, SAMPLE_JS, VIDEO, _wait
from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub, database_url, db, db_area, hub, hub_settings, make  # noqa: F401
from tests.ioc.test_meetings_share import mjpeg_preview


@pytest.mark.e2e
@pytest.mark.timeout(150)
async def test_operator_shares_camera_from_the_page(hub: Hub, make: Factory, shared_data: Path) -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    from playwright.async_api import async_playwright

    # The preview server runs on this machine: this deployment allow-lists loopback as a
    # camera host (issue 8: the hub opens streams only on public or allow-listed addresses).
    hub.app.state.settings.camera_hosts_allow = ["127.0.0.1/32"]
    secret = hub.app.state.settings.relay_secret.get_secret_value()
    tree = await make.tree()
    relay = Relay(RelayConfig(unit=tree.province, port=free_port()), secret=secret)
    await relay.start()
    chair = await make.user("official", tree.province)
    created = await hub.client.post("/api/v1/meetings", headers=chair.headers, json={
        "title": "Điều hành giao thông", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: relay.url}})
    meeting = created.json()["id"]
    operator = await make.user("operator", tree.districts[1])
    try:
        with mjpeg_preview(shared_data / VIDEO, "cam-nga-tu") as preview:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    context = await browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
                    login = await context.request.post(hub.base_url + "/api/v1/auth/login", data={
                        "username": operator.user.username, "password": operator.password})
                    assert login.ok
                    page = await context.new_page()
                    await page.goto(f"{hub.base_url}/meet/{meeting}")
                    await page.click("#join-btn")
                    await page.wait_for_function("window.IOCMeet.state().phase === 'live'", timeout=30_000)
                    assert not await page.is_hidden("#share-panel")

                    await page.fill("#share-source", preview.url + "/cam-nga-tu.mjpg")
                    await page.fill("#share-label", "Ngã tư Hàng Xanh")
                    await page.click("#share-form button[type=submit]")
                    await page.wait_for_selector("#shares >> text=Ngã tư Hàng Xanh · đang phát", timeout=30_000)

                    # The camera joined as a participant: a grid tile with its name shows its picture.
                    tile = page.locator("#grid .tile", has_text="Ngã tư Hàng Xanh")
                    await tile.wait_for(timeout=15_000)
                    key = await tile.get_attribute("data-key")
                    selector = f'#grid .tile[data-key="{key}"] video'

                    async def picture() -> bool:
                        sample = await page.evaluate(SAMPLE_JS, selector)
                        return bool(sample and (sample["w"], sample["h"]) == (576, 320) and sample["std"] > 20
                                    and sample["frames"] > 5)

                    await _wait(picture, 30, "the shared camera's picture in the grid")
                    roster = await page.text_content("#roster")
                    assert "Ngã tư Hàng Xanh" in roster

                    # Stop from the page: the tile goes away.
                    await page.click("#shares button")
                    await page.locator("#grid .tile", has_text="Ngã tư Hàng Xanh").wait_for(state="detached",
                                                                                       timeout=15_000)
                finally:
                    await browser.close()
    finally:
        await relay.stop()
