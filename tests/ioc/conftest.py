"""Reusable fixtures for hub tests: a fresh migrated database, a running hub, factories.

Database: one per test session, named `ioc_t_<area>_<hex>` on the server of
`IOC_TEST_DATABASE_URL` (default postgresql://postgres@127.0.0.1:5432/postgres), migrated
with every numbered file in ioc/db/migrations (hub, review, meetings), dropped at the end.
Override the `db_area` fixture to name your area. PostgreSQL missing: the test FAILS.

Two servers: plain PostgreSQL (`IOC_TEST_DATABASE_URL`) and TimescaleDB
(`IOC_TEST_TIMESCALE_URL`, started by `.ci/run` with ../shared/timescaledb/start.sh). A
module marked `pytestmark = pytest.mark.both_databases` runs each of its tests on both
(ids `[postgresql]`, `[timescaledb]`); `db_server` is the admin URL of the server in use.
TimescaleDB wanted and `IOC_TEST_TIMESCALE_URL` unset: the test FAILS under `CI=true`
and is skipped, saying why, on a developer's machine.

Fixtures:
    database_url   str        the session's migrated database (owner role)
    db             AsyncConnection as the owner (autocommit, dict rows) for set-up and checks
    hub_settings   Settings   for this test: fresh secrets, data_dir under tmp_path,
                              db_role="ioc_app" (the app's least-privilege role), no NATS
    hub            Hub        a real uvicorn server of `create_app(hub_settings)` on a free
                              port, with `hub.client` (httpx.AsyncClient on its base URL),
                              `hub.base_url`, `hub.ws_url(path)`, `hub.app`
    make           Factory    `await make.tree()` -> Tree(province, districts, communes)
                              (fresh codes per call, so tests never collide);
                              `await make.user(role, unit)` -> Login(user, password, token,
                              headers); `await make.edge(unit, cameras=[(id, unit), ...])`
                              -> EdgeLogin(id, token, headers, cameras); `make.event(edge,
                              camera, unit, **fields)` -> envelope dict.

Reuse outside tests/ioc (e.g. tests/e2e): in your conftest.py,
`from tests.ioc.conftest import *  # noqa: F403` or import the fixtures you need.

Example::

    async def test_login(hub, make):
        tree = await make.tree()
        op = await make.user("operator", tree.province)
        r = await hub.client.get("/api/v1/events", headers=op.headers)
        assert r.status_code == 200
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from psycopg.rows import dict_row

from ioc.api.app import create_app
from contract import new_event_id
from ioc.db import upgrade
from ioc.services import cameras as camera_service
from ioc.services import edges, units, users
from ioc.services.cameras import CameraDecl
from ioc.services.units import Unit
from ioc.settings import Settings
from tests.conftest import DATABASE_KINDS, db_server, free_port, require_service, server_url  # noqa: F401

__all__ = [
    "EdgeLogin", "Factory", "Hub", "Login", "Tree", "db", "db_area", "db_server", "database_url", "hub",
    "hub_settings", "make", "server_url", "start_hub", "with_database",
]

ADMIN_URL = os.environ.get("IOC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def db_area() -> str:
    """Area name in the test database name; override in your conftest."""
    return "hub"


@pytest.fixture(scope="session")
def database_url(db_area: str, db_server: str) -> Iterator[str]:
    """A fresh database for this test session on `db_server`, migrated, dropped afterwards."""
    name = f"ioc_t_{db_area}_{secrets.token_hex(4)}"
    with psycopg.connect(db_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(db_server, name)
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        with psycopg.connect(db_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """An owner connection (autocommit, dict rows) for set-up and for checking what was stored."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def hub_settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings of a test hub: real secrets, its own data dir, the ioc_app role, no NATS."""
    return Settings(
        database_url=database_url,
        secret_key=secrets.token_hex(32),
        relay_secret=secrets.token_hex(32),
        data_dir=tmp_path / "data",
        db_role="ioc_app",
        migrate_on_start=False,
        nats_url=None,
        ws_heartbeat_s=5.0,
        pool_min=1,
        pool_max=8,
    )


@dataclass
class Hub:
    """A running hub: a real uvicorn server on 127.0.0.1."""

    app: FastAPI
    base_url: str
    client: httpx.AsyncClient
    server: uvicorn.Server

    def ws_url(self, path: str) -> str:
        return "ws" + self.base_url[len("http"):] + path


async def start_hub(settings: Settings) -> tuple[Hub, asyncio.Task[None]]:
    """Start `create_app(settings)` under uvicorn in this event loop; stop with `stop_hub`."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        if task.done() and task.exception():
            raise task.exception()  # type: ignore[misc]
        raise RuntimeError("hub did not start within 10 s")
    base = f"http://127.0.0.1:{port}"
    return Hub(app, base, httpx.AsyncClient(base_url=base, timeout=15), server), task


async def stop_hub(hub: Hub, task: asyncio.Task[None]) -> None:
    await hub.client.aclose()
    hub.server.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[Hub]:
    """A real hub server for this test."""
    running, task = await start_hub(hub_settings)
    try:
        yield running
    finally:
        await stop_hub(running, task)


@dataclass
class Tree:
    """province -> 2 districts -> 2 communes each (codes are fresh per call)."""

    province: str
    districts: list[str]
    communes: list[str]  # communes[0:2] under districts[0], communes[2:4] under districts[1]


@dataclass
class Login:
    """A user with a password and a bearer token."""

    user: users.User
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class EdgeLogin:
    """A registered edge with its token and declared cameras (id -> unit)."""

    id: str
    unit: str
    token: str
    cameras: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    """Creates units, users and edges straight in the database, and logs users in
    through the real API when a hub is running."""

    def __init__(self, conn: psycopg.AsyncConnection, hub: Hub | None) -> None:
        self.conn = conn
        self.hub = hub

    async def tree(self) -> Tree:
        tag = secrets.token_hex(3)
        province = f"p{tag}"
        await units.create(self.conn, Unit(code=province, name=f"Tỉnh {tag}", level="province"))
        districts, communes = [], []
        for d in range(2):
            dcode = f"{province}-d{d}"
            await units.create(self.conn, Unit(code=dcode, name=f"Huyện {d}", level="district", parent_code=province))
            districts.append(dcode)
            for c in range(2):
                ccode = f"{dcode}-c{c}"
                await units.create(self.conn, Unit(code=ccode, name=f"Xã {d}.{c}", level="commune", parent_code=dcode))
                communes.append(ccode)
        return Tree(province, districts, communes)

    async def user(self, role: str, unit: str, *, login: bool = True) -> Login:
        password = secrets.token_urlsafe(12)
        user = await users.create(
            self.conn, username=f"{role}_{secrets.token_hex(4)}", password=password, role=role, unit=unit
        )
        token = ""
        if login:
            if self.hub is None:
                raise RuntimeError("make.user(login=True) needs the `hub` fixture")
            r = await self.hub.client.post("/api/v1/auth/login", json={"username": user.username, "password": password})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            # Tests authenticate explicitly with `headers`; keep the shared client cookie-free.
            self.hub.client.cookies.clear()
        return Login(user, password, token)

    async def edge(self, unit: str, *, cameras: list[tuple[str, str]] | None = None) -> EdgeLogin:
        edge_id = f"edge-{secrets.token_hex(4)}"
        token = await edges.register(self.conn, edge_id, unit)
        handle = EdgeLogin(edge_id, unit, token)
        decl = [CameraDecl(id=cid, name=f"Camera {cid}", unit=cunit) for cid, cunit in (cameras or [])]
        if decl:
            await camera_service.declare(self.conn, await edges.get(self.conn, edge_id), decl)
            handle.cameras = {c.id: c.unit for c in decl}
        return handle

    @staticmethod
    def event(edge: EdgeLogin, camera: str, *, seq: int = 0, **fields: Any) -> dict[str, Any]:
        """A valid wire-form envelope from `edge` for `camera`; `fields` override."""
        body: dict[str, Any] = {
            "id": str(new_event_id()),
            "edge": edge.id,
            "seq": seq,
            "camera": camera,
            "unit": edge.cameras[camera],
            "type": "traffic.wrong_way",
            "severity": "warning",
            "ts": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "payload": {"track": 1, "class": "motorbike"},
            "evidence": [],
        }
        body.update(fields)
        return body



@pytest.fixture
async def make(db: psycopg.AsyncConnection, request: pytest.FixtureRequest) -> Factory:
    """Factories for units, users and edges (logs users in when `hub` is used too)."""
    running = request.getfixturevalue("hub") if "hub" in request.fixturenames else None
    return Factory(db, running)
