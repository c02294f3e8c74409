"""`ioc demo`'s relays: three `ioc relay` processes cascaded province -> district ->
commune, a running meeting on the wall, attendance at the hub, and the chair's video
reaching a commune endpoint through both cascade hops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from conferencing.client import RelayClient
from ioc.demo_relays import DEMO_UNITS, start_demo_relays
from conferencing.pattern import colour_close, read_pattern
from ioc.demo import UNITS
from ioc.services import units
from ioc.services.units import Unit
from tests.ioc.conftest import Factory, Hub

CHAIR_COLOUR = (20, 70, 160)  # ioc/demo_relays.py's chair test signal


@pytest.mark.timeout(120)
async def test_demo_relays_cascade_and_meeting(
    hub: Hub, make: Factory, db, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await units.import_units(db, [Unit(code=c, name=n, level=lv, parent_code=p) for c, n, lv, p in UNITS])
    secret = hub.app.state.settings.relay_secret.get_secret_value()
    monkeypatch.setenv("IOC_RELAY_SECRET", secret)  # what `ioc demo` shares between hub and relays
    handle = await asyncio.to_thread(
        start_demo_relays, hub.base_url, tmp_path, database_url=database_url, camera_wait_s=0
    )
    processes = list(handle.processes)
    try:
        assert [r.unit for r in handle.rooms] == list(DEMO_UNITS)
        assert [r.tier for r in handle.rooms] == ["province", "district", "commune"]
        assert all(p.poll() is None for p in handle.processes)
        async with httpx.AsyncClient(timeout=5) as http:
            for room in handle.rooms:
                health = await http.get(room.url.replace("ws://", "http://").replace("/ws", "/healthz"))
                assert health.text.strip() == "ok"

        # The wall sees the demo meeting running, with the relays' attendance.
        official = await make.user("official", DEMO_UNITS[0])
        running = await hub.client.get("/api/v1/meetings", params={"state": "running"}, headers=official.headers)
        item = next(m for m in running.json()["items"] if m["id"] == handle.meeting)
        assert item["title"] and item["relays"] == {r.unit: r.url for r in handle.rooms}

        async def attended() -> bool:
            r = await hub.client.get(f"/api/v1/meetings/{handle.meeting}/attendance", headers=official.headers)
            return any(row["endpoint"] == "demo-chair" for row in r.json()["items"])

        await _until(attended, 20, "the chair's attendance at the hub")

        # A commune endpoint gets a token from the hub for the commune relay and sees the chair,
        # whose video crossed province -> district -> commune.
        commune_official = await make.user("official", DEMO_UNITS[2])
        grant = (await hub.client.post(f"/api/v1/meetings/{handle.meeting}/join-token",
                                       json={"endpoint": "t1"}, headers=commune_official.headers)).json()
        assert grant["relay_url"] == handle.rooms[2].url and grant["role"] == "participant"
        seen: list[tuple[int, int, int]] = []
        tasks: list[asyncio.Task[None]] = []

        async def consume(track: MediaStreamTrack) -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    seen.append(read_pattern(frame.to_ndarray(format="rgb24"))[0])

        def on_track(slot: int, kind: str, track: MediaStreamTrack) -> None:
            if kind == "video":
                tasks.append(asyncio.ensure_future(consume(track)))

        viewer = RelayClient(grant["relay_url"], grant["token"], slots=["chair"], receive_audio=False,
                             on_track=on_track, name="commune-endpoint")
        await viewer.start()
        try:
            await viewer.wait_connected(20)

            async def chair_video() -> bool:
                return sum(colour_close(c, CHAIR_COLOUR) for c in seen) >= 10

            await _until(chair_video, 30, "the chair's video at the commune endpoint")
        finally:
            for task in tasks:
                task.cancel()
            await viewer.stop()
    finally:
        await asyncio.to_thread(handle.stop)
    assert len(processes) == 3 and all(p.returncode is not None for p in processes)  # nothing left running


async def _until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s: {what}")
