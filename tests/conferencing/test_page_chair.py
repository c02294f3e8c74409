"""The meeting page as the chair, in headless Chromium (English UI): a Python aiortc
participant raises a hand, the chair gives it the floor (the page's spotlight switches
to its real video), mutes it (the participant is told), and ends the meeting (the
participant is told, the hub records it)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiortc.contrib.media import MediaPlayer

from conferencing.client import RelayClient
from conferencing.config import RelayConfig
from conferencing.server import Relay
from contract.tokens import issue_join_token
from tests.conferencing.test_browser_meet import CHROMIUM, CHROMIUM_ARGS, VIDEO, _wait, spotlight_sample
from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub, database_url, db, db_area, hub, hub_settings, make  # noqa: F401


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_chair_controls(hub: Hub, make: Factory, shared_data: Path, artifacts_dir: Path) -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    from playwright.async_api import async_playwright

    secret = hub.app.state.settings.relay_secret.get_secret_value()
    tree = await make.tree()
    relay = Relay(RelayConfig(unit=tree.province, port=free_port()), secret=secret)
    await relay.start()
    chair_user = await make.user("official", tree.province)
    r = await hub.client.post("/api/v1/meetings", headers=chair_user.headers, json={
        "title": "Weekly briefing", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: relay.url}})
    assert r.status_code == 201, r.text
    meeting = r.json()["id"]

    messages: list[dict[str, Any]] = []
    part_token = issue_join_token(room=meeting, sub="py-part", name="Xã 0.0 (aiortc)", unit=tree.communes[0],
                                  role="participant", pub=True, secret=secret)
    participant = RelayClient(
        relay.url, part_token, publish=lambda: [(None, MediaPlayer(str(shared_data / VIDEO), loop=True).video)],
        slots=[], receive_audio=False, on_message=messages.append, reconnect=False, name="py-part")
    await participant.start()
    await participant.wait_connected(20)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = await browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
                login = await context.request.post(hub.base_url + "/api/v1/auth/login", data={
                    "username": chair_user.user.username, "password": chair_user.password})
                assert login.ok
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(f"{hub.base_url}/meet/{meeting}?lang=en")
                assert await page.text_content("#join-btn") == "Join meeting"
                await page.wait_for_function("document.querySelector('#camera-select option') !== null")
                await page.click("#join-btn")
                await page.wait_for_function("window.IOCMeet.state().phase === 'live'", timeout=30_000)
                assert (await page.evaluate("window.IOCMeet.state()"))["you"]["role"] == "chair"
                assert not await page.is_hidden("#end-btn")

                # The participant raises a hand: the chair sees it in the queue and the roster.
                await participant.send({"type": "raise_hand", "raised": True})
                await page.wait_for_selector("#hands-panel:not(.hidden) >> text=Xã 0.0 (aiortc)", timeout=10_000)
                row = page.locator('#roster li[data-participant="py-part"]')
                await row.locator("text=✋").wait_for(timeout=5_000)

                # Give the floor: the page's spotlight switches to the participant's real video.
                await row.locator('button[data-action="floor"]').click()
                await page.wait_for_function(
                    "document.querySelector('#spotlight-tile').dataset.participant === 'py-part'", timeout=10_000)
                assert await page.text_content("#spotlight-tile .tile-name") == "Xã 0.0 (aiortc)"

                async def file_in_spotlight() -> bool:
                    sample = await spotlight_sample(page)
                    return bool(sample and (sample["w"], sample["h"]) == (576, 320) and sample["std"] > 20)

                await _wait(file_in_spotlight, 20, "the participant's video in the chair's spotlight")
                assert (participant.state or {}).get("spotlight") == "py-part"
                assert (participant.state or {}).get("hands") == []
                await page.screenshot(path=str(artifacts_dir / "meet_chair_floor.png"))

                # Mute: the participant is told by the relay.
                await row.locator('button[data-action="mute"]').click()

                async def told_muted() -> bool:
                    return any(m.get("type") == "muted" and m.get("muted") is True for m in messages)

                await _wait(told_muted, 10, "the participant to be told it is muted")

                # End (two clicks): the participant is told, the hub marks the meeting ended.
                await page.click("#end-btn")
                assert await page.text_content("#end-btn") == "Click again to end"
                await page.click("#end-btn")

                async def ended() -> bool:
                    got = await hub.client.get(f"/api/v1/meetings/{meeting}", headers=chair_user.headers)
                    return participant.ended and got.json()["state"] == "ended"

                await _wait(ended, 10, "the meeting to end everywhere")
                await page.wait_for_selector("#banner >> text=The meeting has ended.")
                assert errors == []
            finally:
                await browser.close()
    finally:
        await participant.stop()
        await relay.stop()
        await asyncio.sleep(0)


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_viewer_watches_without_publishing(hub: Hub, make: Factory, shared_data: Path) -> None:
    """A `viewer` user opens the page: no device pickers, no camera sent, the chair's video shown."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    from playwright.async_api import async_playwright

    secret = hub.app.state.settings.relay_secret.get_secret_value()
    tree = await make.tree()
    relay = Relay(RelayConfig(unit=tree.province, port=free_port()), secret=secret)
    await relay.start()
    organiser = await make.user("official", tree.province)
    r = await hub.client.post("/api/v1/meetings", headers=organiser.headers, json={
        "title": "Họp giao ban", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: relay.url}})
    meeting = r.json()["id"]
    chair_token = issue_join_token(room=meeting, sub="py-chair", name="Chủ trì", unit=tree.province, role="chair",
                                   pub=True, secret=secret)
    chair = RelayClient(relay.url, chair_token, slots=[], receive_audio=False, reconnect=False, name="py-chair",
                        publish=lambda: [(None, MediaPlayer(str(shared_data / VIDEO), loop=True).video)])
    await chair.start()
    await chair.wait_connected(20)
    viewer = await make.user("viewer", tree.communes[1])
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = await browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
                login = await context.request.post(hub.base_url + "/api/v1/auth/login", data={
                    "username": viewer.user.username, "password": viewer.password})
                assert login.ok
                page = await context.new_page()
                await page.goto(f"{hub.base_url}/meet/{meeting}")
                await page.wait_for_selector("#device-note >> text=người xem")
                assert await page.is_disabled("#camera-select")
                await page.click("#join-btn")
                await page.wait_for_function("window.IOCMeet.state().phase === 'live'", timeout=30_000)
                state = await page.evaluate("window.IOCMeet.state()")
                assert state["publishing"] is False and state["you"]["role"] == "viewer"

                async def chair_shown() -> bool:
                    sample = await spotlight_sample(page)
                    return bool(sample and (sample["w"], sample["h"]) == (576, 320) and sample["std"] > 20)

                await _wait(chair_shown, 30, "the chair's video at the viewer")
                members = {p["id"]: p for p in relay.rooms[meeting].state()["participants"]}
                assert members[state["you"]["id"]]["pub"] is False
                assert await page.is_hidden("#hand-btn") and await page.is_hidden("#mic-btn")
            finally:
                await browser.close()
    finally:
        await chair.stop()
        await relay.stop()
