"""A real hub process on a scratch PostgreSQL database, for benchmarks and browser tests.

The hub runs as its own process through its production command, `ioc hub`, so what is
measured or clicked is the real server: real migrations, real auth, real ingest path,
real websocket fan-out, the same uvicorn options.

Example::

    with scratch_database("bench") as db_url, HubProcess.start(db_url, data_dir) as hub:
        seed = asyncio.run(seed_site(db_url, cameras=4))
        httpx.post(hub.url + "/api/v1/events", json={...},
                   headers={"Authorization": "Bearer " + seed.edge_token})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent


def admin_database_url() -> str:
    """The maintenance database used to create scratch databases (`IOC_TEST_DATABASE_URL`)."""
    return os.environ.get("IOC_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.contextmanager
def scratch_database(area: str) -> Iterator[str]:
    """Create `ioc_t_<area>_<hex>`, yield its URL, drop it afterwards (even on failure)."""
    admin = admin_database_url()
    name = f"ioc_t_{area}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class HubProcess:
    """One `ioc hub` process; `stop()` ends it and its log stays on disk.

    Example::

        with HubProcess.start(db_url, tmp / "data") as hub:
            httpx.get(hub.url + "/healthz")
    """

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        database_url: str,
        data_dir: Path,
        *,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        startup_timeout_s: float = 60.0,
    ) -> "HubProcess":
        """Start the hub and wait until /healthz answers 200; RuntimeError with its log otherwise."""
        port = port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "IOC_DATABASE_URL": database_url,
            "IOC_SECRET_KEY": secrets.token_hex(32),
            "IOC_RELAY_SECRET": secrets.token_hex(32),
            "IOC_DATA_DIR": str(data_dir),
            "IOC_HOST": "127.0.0.1",
            "IOC_PORT": str(port),
            **(extra_env or {}),
        }
        if "IOC_NATS_URL" not in (extra_env or {}):
            env.pop("IOC_NATS_URL", None)  # one process: the in-memory broker, whatever the shell says
        log_path = data_dir / f"hub-{port}.log"
        log = log_path.open("wb")
        # The production entry point (`ioc hub`), so uvicorn runs with the hub's own options.
        proc = subprocess.Popen(
            [sys.executable, "-m", "ioc.cli", "hub", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        hub = cls(url=f"http://127.0.0.1:{port}", port=port, proc=proc, log_path=log_path, env=env)
        deadline = time.monotonic() + startup_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"hub exited with {proc.returncode}:\n{hub.log_tail()}")
            try:
                if httpx.get(hub.url + "/healthz", timeout=2).status_code == 200:
                    return hub
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        hub.stop()
        raise RuntimeError(f"hub did not become healthy in {startup_timeout_s:.0f} s:\n{hub.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the hub's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Ask the hub to shut down (SIGTERM), kill it if it does not within 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> "HubProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Site:
    """What `seed_site` created: unit codes, an edge and its token, camera ids."""

    province: str
    commune: str
    edge_id: str
    edge_token: str
    cameras: list[str]


UNITS_CSV = (
    "code,name,level,parent_code\n"
    "79,Thành phố Hồ Chí Minh,province,\n"
    "760,Quận 1,district,79\n"
    "26734,Phường Bến Nghé,commune,760\n"
    "26737,Phường Bến Thành,commune,760\n"
)


async def seed_site(database_url: str, *, cameras: int = 2, users: Sequence[tuple[str, str, str, str]] = ()) -> Site:
    """Units (province → district → 2 communes), users `(name, password, role, unit)` and
    one edge in commune 26734. Cameras are declared later through the edge API."""
    from ioc.services import edges, units
    from ioc.services import users as users_service

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await units.import_units(conn, units.parse_csv(UNITS_CSV))
        for username, password, role, unit in users:
            await users_service.create(conn, username=username, password=password, role=role, unit=unit)
        token = await edges.register(conn, "edge-web-01", "26734")
    return Site(province="79", commune="26734", edge_id="edge-web-01", edge_token=token,
                cameras=[f"cam-{i:02d}" for i in range(1, cameras + 1)])


def seed_site_blocking(database_url: str, **kwargs: Any) -> Site:
    """`seed_site` from synchronous code, even where an event loop already runs in this
    thread (Playwright's sync API keeps one): the coroutine runs in its own thread."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, seed_site(database_url, **kwargs)).result()


CAMERA_NAMES = ["Ngã tư Hàng Xanh", "Chợ Bến Thành", "Cầu Sài Gòn", "Đại lộ Võ Văn Kiệt",
                "Nhà hát Thành phố", "Bến Bạch Đằng"]


def declare_cameras(hub_url: str, site: Site) -> None:
    """Declare the site's cameras through `PUT /api/v1/edges/self/cameras` (the edge's own API)."""
    body = {"cameras": [
        {"id": cam, "name": CAMERA_NAMES[i % len(CAMERA_NAMES)], "unit": site.commune,
         "lat": 10.7769 + i * 0.001, "lon": 106.7009 + i * 0.001}
        for i, cam in enumerate(site.cameras)
    ]}
    response = httpx.put(hub_url + "/api/v1/edges/self/cameras", json=body,
                         headers={"Authorization": "Bearer " + site.edge_token}, timeout=10)
    response.raise_for_status()

