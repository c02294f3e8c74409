"""Cascade across processes: province relay, two district relays, four commune endpoints.

Each relay is its own `ioc relay` process; the chair and the communes are aiortc
endpoints in the test process that publish the test pattern and decode what they get,
so every check is on decoded frames (colour = whose video, barcode = how fresh).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conferencing.client import RelayClient
from conferencing.pattern import PatternTrack
from tests.conferencing.helpers import BLUE, GREEN, RED, SECRET, FrameWatcher, token
from tests.conftest import free_port

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

IOC = Path(sys.executable).parent / "ioc"


class RelayProcess:
    """One `ioc relay` child process."""

    def __init__(self, unit: str, port: int, parent: int | None = None) -> None:
        self.unit, self.port, self.parent = unit, port, parent
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        cmd = [str(IOC), "relay", "--unit", self.unit, "--port", str(self.port)]
        if self.parent is not None:
            cmd += ["--parent", f"ws://127.0.0.1:{self.parent}/ws", "--room", "m-1"]
        env = {**os.environ, "IOC_RELAY_SECRET": SECRET}
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        async with httpx.AsyncClient() as http:
            for _ in range(150):
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"relay {self.unit} did not start")

    async def rooms(self) -> dict:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{self.port}/rooms")).json()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _pattern(colour):
    return lambda: [(None, PatternTrack(colour, width=320, height=180, fps=15))]


async def _until(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_three_tier_cascade(artifacts_dir: Path) -> None:
    province = RelayProcess("26", free_port())
    districts = {"A": RelayProcess("744", free_port(), province.port), "B": RelayProcess("745", free_port(), province.port)}
    clients: list[RelayClient] = []
    watchers: dict[str, FrameWatcher] = {}
    report: dict[str, object] = {}

    async def join(name: str, relay: RelayProcess, role: str, colour=None, slots=("chair", "spotlight")) -> RelayClient:
        watchers[name] = FrameWatcher(name)
        client = RelayClient(relay.url, token(name, role, pub=colour is not None, unit=relay.unit),
                             publish=_pattern(colour) if colour else None, slots=list(slots),
                             on_track=watchers[name].on_track, receive_audio=False, name=name, reconnect_max_s=1.0)
        clients.append(client)
        await client.start()
        return client

    try:
        await province.start()
        for d in districts.values():
            await d.start()
        chair = await join("chair", province, "chair", RED, slots=("spotlight",))
        communes = {
            "c1": await join("c1", districts["A"], "participant", GREEN),
            "c2": await join("c2", districts["A"], "participant"),
            "c3": await join("c3", districts["B"], "participant", BLUE),
            "c4": await join("c4", districts["B"], "participant"),
        }
        for client in clients:
            await client.wait_connected(20)

        # 1. The chair's video reaches every commune, two relays down.
        waits = await asyncio.gather(*(watchers[n].wait_for(0, RED, timeout=30) for n in communes))
        arrival = dict(zip(communes, waits))
        await asyncio.sleep(1.0)
        for n in communes:
            seen = watchers[n].last[0]
            assert seen.age_ms < 1500, f"{n} gets stale chair video ({seen.age_ms} ms)"
        report["chair_video_first_arrival_s"] = arrival
        report["chair_video_age_ms"] = {n: watchers[n].last[0].age_ms for n in communes}

        # 2. The floor moves to a commune in district B, then one in district A: every tier follows.
        for target, colour, viewers in (("c3", BLUE, ["chair", "c1", "c2", "c4"]), ("c1", GREEN, ["chair", "c2", "c3", "c4"])):
            sent = time.monotonic()
            await chair.send({"type": "spotlight", "participant": target})
            slot = {n: (0 if n == "chair" else 1) for n in viewers}
            state_at: dict[str, float] = {}
            video_at: dict[str, float] = {}

            def done() -> bool:
                for n in viewers:
                    client = chair if n == "chair" else communes[n]
                    if n not in state_at and client.state and client.state.get("spotlight") == target:
                        state_at[n] = time.monotonic() - sent
                    if n not in video_at and watchers[n].shows(slot[n], colour, fresh_s=0.3):
                        video_at[n] = time.monotonic() - sent
                return len(state_at) == len(viewers) and len(video_at) == len(viewers)

            await _until(done, 10, f"spotlight {target}: state {state_at} video {video_at}")
            report[f"spotlight_{target}_state_s"] = state_at
            report[f"spotlight_{target}_video_s"] = video_at
            assert max(state_at.values()) < 1.0, state_at
            assert max(video_at.values()) < 1.0, video_at

        # 3. District B dies and comes back: its communes return without anyone doing anything.
        districts["B"].kill()
        await _until(lambda: not communes["c3"].connected.is_set() and not communes["c4"].connected.is_set(), 15,
                     "communes noticed the lost relay")
        assert watchers["c1"].shows(0, RED, fresh_s=1.0)  # district A goes on meanwhile
        killed = time.monotonic()
        await districts["B"].start()
        for n in ("c3", "c4"):
            await communes[n].wait_connected(30)
        for n in ("c3", "c4"):
            watchers[n].last.clear()
        waits = await asyncio.gather(*(watchers[n].wait_for(0, RED, timeout=30) for n in ("c3", "c4")))
        recovered = dict(zip(("c3", "c4"), waits))
        report["district_restart_recovery_s"] = {n: round(time.monotonic() - killed, 2) for n in recovered}
        await watchers["c4"].wait_for(1, GREEN, timeout=10)  # the floor (c1, district A) reaches B again
        rooms = await province.rooms()
        members = {p["id"] for p in rooms["rooms"][0]["state"]["participants"]}
        assert {"chair", "c1", "c2", "c3", "c4"} <= members
        report["province_rooms"] = rooms["rooms"][0] | {"state": None}
    finally:
        (artifacts_dir / "cascade.json").write_text(json.dumps(report, indent=2, default=str))
        for w in watchers.values():
            w.stop()
        for client in clients:
            await client.stop()
        for relay in (*districts.values(), province):
            relay.stop()
