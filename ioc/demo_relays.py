"""Demo relays for `ioc demo`: a province relay, one district and one commune relay.

Each relay is a real `ioc relay` process; the district relay cascades under the
province's and the commune's under the district's, as in a province. When the demo
database is known, a meeting "Giao ban trực tuyến" is created for the three relays and
started, and two demo endpoints join it so that the wall shows a live meeting and the
page has something to look at: the chair (province, a test signal) and the demo
camera shared into the meeting from its edge preview (commune, through two cascade
hops). Every relay reports attendance to the hub.

Example::

    handle = start_demo_relays("http://127.0.0.1:8000", Path("var"), database_url=url)
    print(handle.rooms)        # [DemoRoom(unit="demo", url="ws://127.0.0.1:41231/ws", ...), ...]
    handle.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conferencing.camera_share import CameraShare
from conferencing.client import RelayClient
from conferencing.exceptions import CascadeError
from conferencing.pattern import PatternTrack
from contract.tokens import issue_join_token

log = logging.getLogger(__name__)

# The units `ioc demo` seeds (ioc/demo.py): province -> district -> commune.
DEMO_UNITS: tuple[str, str, str] = ("demo", "demo-01", "demo-01-01")
DEMO_CAMERA = "cam-demo-01"
MEETING_TITLE = "Giao ban trực tuyến an toàn giao thông"


@dataclass(frozen=True, slots=True)
class DemoRoom:
    """One relay of the demo and the meeting room it serves.

    Example::

        DemoRoom(unit="demo-01", tier="district", url="ws://127.0.0.1:41232/ws", meeting="0190...")
    """

    unit: str
    tier: str
    url: str
    meeting: str | None


@dataclass
class DemoRelays:
    """The running demo relays (processes) and demo endpoints; `stop()` ends them all.

    Example::

        handle = start_demo_relays(hub_url, data_dir)
        handle.rooms[0].url
        handle.stop()
    """

    rooms: list[DemoRoom]
    meeting: str | None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    _bots: _Bots | None = None

    def stop(self) -> None:
        """Stop the endpoints, then the relays (children first), within a few seconds."""
        if self._bots is not None:
            self._bots.stop()
            self._bots = None
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.processes):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.processes.clear()


def start_demo_relays(
    hub_url: str,
    data_dir: Path,
    *,
    database_url: str | None = None,
    units: Sequence[str] = DEMO_UNITS,
    host: str = "127.0.0.1",
    endpoints: bool = True,
    camera_wait_s: float = 10.0,
    start_timeout_s: float = 20.0,
) -> DemoRelays:
    """Start one relay per unit of `units` (root first, each under the previous one).

    `database_url` (else ``$IOC_DATABASE_URL``) lets the demo create and start the
    meeting; without it the relays run and rooms open on first join. `endpoints` adds
    the demo chair and, when the demo edge announces a preview within `camera_wait_s`,
    the shared demo camera.
    """
    if len(units) < 1:
        raise ValueError("start_demo_relays needs at least one unit")
    from ioc.services.meetings import issue_relay_hub_token
    from ioc.settings import Settings

    # The hub of `ioc demo` reads the same environment: same secret on both sides.
    secret = Settings(demo=True).relay_secret.get_secret_value()
    database_url = database_url or os.environ.get("IOC_DATABASE_URL")
    ports = [_free_port(host) for _ in units]
    urls = [f"ws://{host}:{port}/ws" for port in ports]
    meeting = None
    if database_url:
        try:
            meeting = asyncio.run(_create_meeting(database_url, units, urls))
        except Exception as exc:  # the relays are still useful without the meeting row
            log.error("demo meeting not created (%s); relays start without it", exc)
    tiers = ["province", "district", "commune"] + [f"tier{i}" for i in range(3, len(units))]
    handle = DemoRelays(rooms=[DemoRoom(u, tiers[i], urls[i], meeting) for i, u in enumerate(units)], meeting=meeting)
    log_dir = data_dir / "relays"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "IOC_RELAY_SECRET": secret}
    try:
        for i, unit in enumerate(units):
            args = ["relay", "--unit", unit, "--host", host, "--port", str(ports[i]), "--hub-url", hub_url,
                    "--hub-token", issue_relay_hub_token(unit, secret=secret)]
            if i > 0:
                args += ["--parent", urls[i - 1]]
                if meeting:
                    args += ["--room", meeting]
            log_path = log_dir / f"relay-{unit}.log"
            with log_path.open("ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-c", "from ioc.cli import main; main()", *args],
                    stdout=out, stderr=subprocess.STDOUT, env=env,
                )
            handle.processes.append(proc)
            handle.logs.append(log_path)
            _wait_listening(host, ports[i], proc, log_path, start_timeout_s)
        if meeting and endpoints:
            handle._bots = _Bots(meeting, units, urls, secret, database_url, camera_wait_s).start()
    except Exception:
        handle.stop()
        raise
    log.info("demo relays: %s", ", ".join(f"{r.unit}={r.url}" for r in handle.rooms))
    return handle


async def _create_meeting(database_url: str, units: Sequence[str], urls: list[str]) -> str:
    import psycopg
    from psycopg.rows import dict_row

    from ioc.services import meetings

    spec = meetings.MeetingSpec(
        title=MEETING_TITLE, chair_unit=units[0], invited_root=units[0], duration_min=120,
        relays=dict(zip(units, urls)),
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        # Earlier demo runs left their meetings running on relays that are gone.
        await conn.execute(
            "UPDATE meetings SET state = 'ended', ended_at = now() WHERE created_by = 'ioc-demo' AND state <> 'ended'"
        )
        meeting = await meetings.create_system_meeting(conn, spec, actor="ioc-demo", running=True)
    return str(meeting.id)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-800:]
            raise CascadeError(f"relay on port {port} exited with {proc.returncode}: {tail}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise CascadeError(f"relay on port {port} did not listen within {timeout_s} s (log: {log_path})")


class _Bots:
    """The demo's own endpoints, on an event loop in a background thread."""

    def __init__(
        self, meeting: str, units: Sequence[str], urls: list[str], secret: str, database_url: str, camera_wait_s: float
    ) -> None:
        self.meeting, self.units, self.urls, self.secret = meeting, list(units), urls, secret
        self.database_url = database_url
        self.camera_wait_s = camera_wait_s
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-endpoints", daemon=True)
        self._stoppers: list[Any] = []

    def start(self) -> _Bots:
        # aioice logs every ICE check at INFO; in the demo's console that drowns the rest.
        logging.getLogger("aioice").setLevel(logging.WARNING)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def _token(self, sub: str, name: str, unit: str, role: str) -> str:
        return issue_join_token(room=self.meeting, sub=sub, name=name, unit=unit, role=role, pub=True, ttl_s=600,
                                secret=self.secret)

    async def _start(self) -> None:
        root = self.units[0]
        # A fresh token on every (re)connection: the demo runs longer than a token lives.
        chair = RelayClient(
            self.urls[0], lambda: self._token("demo-chair", "Chủ trì (demo)", root, "chair"),
            publish=lambda: [(None, PatternTrack(colour=(20, 70, 160), width=640, height=360, fps=15))],
            slots=[], receive_audio=False, name="demo-chair",
        )
        await chair.start()
        self._stoppers.append(chair.stop)
        found = await self._camera_preview()
        if found is not None:
            preview, label = found
            leaf_unit, leaf_url = self.units[-1], self.urls[-1]

            async def grant() -> tuple[str, str]:
                return leaf_url, self._token("cam-demo", label, leaf_unit, "participant")

            share = CameraShare(preview, grant, label=label)
            share.start()
            self._stoppers.append(share.stop)

    async def _camera_preview(self) -> tuple[str, str] | None:
        """The demo camera's preview URL and tile label, once its edge has announced it."""
        import psycopg
        from psycopg.rows import dict_row

        from ioc.services import cameras

        deadline = time.monotonic() + self.camera_wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True, row_factory=dict_row
                ) as conn:
                    url = await cameras.preview_url(conn, DEMO_CAMERA)
                    row = await (await conn.execute("SELECT name FROM cameras WHERE id = %s", (DEMO_CAMERA,))).fetchone()
                if url:
                    return url, "Camera: " + (row["name"] if row else DEMO_CAMERA)
            await asyncio.sleep(0.5)
        log.info("demo camera has no preview yet; the meeting runs without the shared camera")
        return None

    def stop(self) -> None:
        async def stop_all() -> None:
            for stop in reversed(self._stoppers):
                with contextlib.suppress(Exception):
                    await stop()
            # Let aiortc finish closing on this loop (its own close tasks must not be
            # cancelled: that breaks the future they share), then end what is left.
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if rest:
                _, pending = await asyncio.wait(rest, timeout=2.0)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop_all(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()
