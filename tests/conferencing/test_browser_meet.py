"""Interop with a real WebRTC peer: headless Chromium joins a meeting through the page.

Real parts only: the hub (uvicorn, PostgreSQL), the forwarding relay
(`conferencing.server.Relay`), the meeting page, Chromium from Debian with its fake
camera, and a Python aiortc endpoint that chairs the meeting and publishes a real
video file (street_crossing_320p.mp4 through `MediaPlayer`).

Checked with pixels, not connection states:
- in the page, the spotlight <video> is drawn to a canvas: it has the file's size,
  is not uniform, and changes over time;
- in Python, Chromium's frames are decoded: they are Chromium's fake-camera picture
  (not uniform, not the file's size), and they change over time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np
import pytest
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from conferencing.client import RelayClient
from conferencing.config import RelayConfig
from conferencing.server import Relay
from contract.tokens import issue_join_token
from ioc.services.meetings import issue_relay_hub_token
from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub, database_url, db, db_area, hub, hub_settings, make  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
VIDEO = "street_crossing_320p.mp4"

# Runs in the page: draw a <video> to a canvas and summarise its pixels.
SAMPLE_JS = """
(selector) => {
  const v = document.querySelector(selector);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0, s = 0, s2 = 0;
  const grid = [];
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    s += y; s2 += y * y; n++;
  }
  // An 8x8 thumbnail of luma, to compare two samples.
  for (let gy = 0; gy < 8; gy++) for (let gx = 0; gx < 8; gx++) {
    const x = Math.floor((gx + 0.5) * c.width / 8), y = Math.floor((gy + 0.5) * c.height / 8);
    const k = (y * c.width + x) * 4;
    grid.push(0.299 * d[k] + 0.587 * d[k + 1] + 0.114 * d[k + 2]);
  }
  const mean = s / n;
  return {w: c.width, h: c.height, mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)), grid,
          frames: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : -1};
}
"""


class FrameGrabber:
    """Decodes a received track and keeps a few frames (as RGB arrays) over time."""

    def __init__(self) -> None:
        self.count = 0
        self.first_at: float | None = None
        self.samples: list[tuple[float, np.ndarray]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def on_track(self, slot: int, kind: str, track: MediaStreamTrack) -> None:
        if kind == "video":
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                self.count += 1
                if self.first_at is None:
                    self.first_at = now
                if not self.samples or now - self.samples[-1][0] > 0.5:
                    self.samples.append((now, frame.to_ndarray(format="rgb24")))
                    del self.samples[:-10]
        except MediaStreamError:
            pass

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Scene:
    """A meeting on a real relay, chaired by a Python endpoint, and a logged-in page."""

    meeting: str
    relay: Relay
    relay_port: int
    relay_config: RelayConfig
    secret: str
    chair: RelayClient
    grabber: FrameGrabber
    official: Any
    page: Any
    js_errors: list[str] = field(default_factory=list)
    join_to_live_s: float = 0.0


@contextlib.asynccontextmanager
async def meeting_scene(hub: Hub, make: Factory, video: Path) -> AsyncIterator[Scene]:
    """Relay + meeting + Python chair publishing `video` + Chromium on /meet/{id}, joined."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    from playwright.async_api import async_playwright

    secret = hub.app.state.settings.relay_secret.get_secret_value()
    tree = await make.tree()
    port = free_port()
    config = RelayConfig(unit=tree.province, port=port, hub_url=hub.base_url,
                         hub_token=issue_relay_hub_token(tree.province, secret=secret))
    relay = Relay(config, secret=secret)
    await relay.start()
    organiser = await make.user("official", tree.province)
    r = await hub.client.post("/api/v1/meetings", headers=organiser.headers, json={
        "title": "Giao ban an toàn giao thông", "chair_unit": tree.province, "invited_root": tree.province,
        "relays": {tree.province: relay.url},
    })
    assert r.status_code == 201, r.text
    meeting = r.json()["id"]
    official = await make.user("official", tree.communes[0])

    # The Python chair publishes the real file (a fresh player per connection: aiortc stops
    # a sender's track with its connection) and receives the browser in its grid slot.
    grabber = FrameGrabber()
    chair_token = issue_join_token(room=meeting, sub="py-chair", name="Chủ trì (aiortc)", unit=tree.province,
                                   role="chair", pub=True, secret=secret)
    chair = RelayClient(relay.url, chair_token, publish=lambda: [(None, MediaPlayer(str(video), loop=True).video)],
                        slots=["auto:0"], receive_audio=False, on_track=grabber.on_track, name="py-chair")
    await chair.start()
    await chair.wait_connected(20)
    relays = [relay]
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids.
                context = await browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
                login = await context.request.post(hub.base_url + "/api/v1/auth/login", data={
                    "username": official.user.username, "password": official.password})
                assert login.ok, await login.text()
                page = await context.new_page()
                scene = Scene(meeting, relay, port, config, secret, chair, grabber, official, page)
                page.on("pageerror", lambda exc: scene.js_errors.append(str(exc)))
                await page.goto(f"{hub.base_url}/meet/{meeting}")
                await page.wait_for_function("document.querySelector('#camera-select option') !== null",
                                             timeout=15_000)
                clicked = time.monotonic()
                await page.click("#join-btn")
                await page.wait_for_function("window.IOCMeet.state().phase === 'live'", timeout=30_000)
                scene.join_to_live_s = time.monotonic() - clicked
                yield scene
                relays.append(scene.relay)
            finally:
                await browser.close()
    finally:
        grabber.stop()
        await chair.stop()
        for each in set(relays):
            await each.stop()


async def spotlight_sample(page: Any) -> dict[str, Any] | None:
    """Pixels of the spotlight <video>, drawn to a canvas in the page."""
    return await page.evaluate(SAMPLE_JS, "#spotlight-video")


async def assert_spotlight_shows_file(page: Any) -> float:
    """The spotlight plays the file: its size, a non-uniform picture, changing over time.
    Returns the seconds it took until it played."""
    started = time.monotonic()

    async def playing() -> bool:
        sample = await spotlight_sample(page)
        return bool(sample and sample["frames"] > 10)

    await _wait(playing, 30, "the chair's video in the page")
    took = time.monotonic() - started
    first = await spotlight_sample(page)
    await asyncio.sleep(1.5)
    second = await spotlight_sample(page)
    assert first is not None and second is not None
    assert (first["w"], first["h"]) == (576, 320), first  # the file's size, not the fake camera's
    assert first["std"] > 20 and second["std"] > 20, (first["std"], second["std"])  # a scene, not a flat frame
    # At least 4 fps decoded in the page (the file is 30 fps; the shared 2-core CI machine is slow).
    assert second["frames"] > first["frames"] + 6, (first["frames"], second["frames"])
    change = float(np.mean(np.abs(np.array(first["grid"]) - np.array(second["grid"]))))
    assert change > 0.5, change  # people and cars move between the two samples
    return took


def record_timing(artifacts: Path, name: str, seconds: float) -> None:
    """Keep a measured duration in test-artifacts/meet_timings.json for the report."""
    path = artifacts / "meet_timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = round(seconds, 2)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_chromium_and_aiortc_exchange_real_video(
    hub: Hub, make: Factory, shared_data: Path, artifacts_dir: Path
) -> None:
    async with meeting_scene(hub, make, shared_data / VIDEO) as scene:
        page = scene.page
        you = (await page.evaluate("window.IOCMeet.state()"))["you"]
        assert you["id"].startswith(f"u{scene.official.user.id}-") and you["role"] == "participant"

        # Browser side: the spotlight (the chair, nobody else has the floor) shows the file.
        record_timing(artifacts_dir, "join_click_to_connected_s", scene.join_to_live_s)
        record_timing(artifacts_dir, "connected_to_10_frames_of_chair_s", await assert_spotlight_shows_file(page))
        assert await page.text_content("#spotlight-tile .tile-name") == "Chủ trì (aiortc)"
        await page.screenshot(path=str(artifacts_dir / "meet_chromium.png"))

        # Python side: Chromium's fake camera arrives at the aiortc chair and is decoded.
        grabber = scene.grabber

        async def browser_frames() -> bool:
            return len(grabber.samples) >= 4

        await _wait(browser_frames, 30, "Chromium's video at the aiortc chair")
        (t0, a), (_, b) = grabber.samples[-4], grabber.samples[-1]
        assert a.shape[:2] != (320, 576), a.shape
        assert float(a.std()) > 10, a.std()  # the fake camera draws a pattern, not a flat frame
        recent = [frame for _, frame in grabber.samples[-4:]]
        assert _is_fake_camera_pattern(recent), [_fake_camera_fractions(f) for f in recent]
        assert float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) > 0.2  # the pacman turns
        assert grabber.count / max(time.monotonic() - (grabber.first_at or t0), 1e-3) > 3  # frames keep coming
        _save_png(artifacts_dir / "meet_aiortc_received.png", b)

        # The relay reported the browser's join to the hub (attendance, relay hub token).
        async def attended() -> bool:
            r = await hub.client.get(f"/api/v1/meetings/{scene.meeting}/attendance", headers=scene.official.headers)
            return any(row["endpoint"] == you["id"] and row["left_at"] is None for row in r.json()["items"])

        await _wait(attended, 10, "the relay's attendance report at the hub")
        assert scene.js_errors == []


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_page_reconnects_after_relay_drop(
    hub: Hub, make: Factory, shared_data: Path, artifacts_dir: Path
) -> None:
    async with meeting_scene(hub, make, shared_data / VIDEO) as scene:
        page = scene.page
        await assert_spotlight_shows_file(page)
        # The relay goes away (network drop at the relay's host); the page notices and retries.
        await scene.relay.stop()
        await page.wait_for_function("window.IOCMeet.state().phase === 'reconnecting'", timeout=20_000)
        assert await page.get_attribute("#conn", "data-state") == "offline"
        await asyncio.sleep(2)
        # It comes back on the same address: nobody touches the page.
        scene.relay = Relay(scene.relay_config, secret=scene.secret)
        await scene.relay.start()
        back = time.monotonic()
        await page.wait_for_function(
            "window.IOCMeet.state().phase === 'live' && window.IOCMeet.state().connects >= 2", timeout=30_000)
        record_timing(artifacts_dir, "relay_back_to_page_reconnected_s", time.monotonic() - back)
        await scene.chair.wait_connected(20)
        await assert_spotlight_shows_file(page)
        record_timing(artifacts_dir, "relay_back_to_chair_video_again_s", time.monotonic() - back)
        assert await page.get_attribute("#conn", "data-state") == "live"
        assert (await page.evaluate("window.IOCMeet.state()"))["publishing"] is True  # same camera, sent again
        assert scene.js_errors == []


def _fake_camera_fractions(rgb: np.ndarray) -> tuple[float, float]:
    """Chromium's fake camera draws a dark green field with a brighter green disc that
    turns: the fractions of field pixels and of disc pixels (greener than the field)."""
    r, g, b = (rgb[:, :, i].astype(np.int16) for i in range(3))
    greenish = (r < 110) & (b < 90) & (g > r + 60)
    field_level = float(np.median(g[greenish])) if greenish.any() else 0.0
    field = greenish & (np.abs(g - field_level) < 25)
    disc = greenish & (g > field_level + 50)
    return float(field.mean()), float(disc.mean())


def _is_fake_camera_pattern(frames: list[np.ndarray]) -> bool:
    """Every frame shows the green field; the disc is a sector that sweeps round (it can
    be almost empty at the start of a turn), so it must show in some frames and change."""
    stats = [_fake_camera_fractions(f) for f in frames]
    discs = [d for _, d in stats]
    return all(0.4 < f < 0.99 for f, _ in stats) and max(discs) > 0.02 and max(discs) - min(discs) > 0.005


def _save_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), rgb[:, :, ::-1])
