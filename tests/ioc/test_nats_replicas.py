"""Two hub processes (real `ioc hub` subprocesses under uvicorn) share live events
through the real NATS JetStream server: ingest at one, receive at the other."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import nats
import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.conftest import free_port, require_service
from tests.ioc.conftest import Factory

NATS_URL = os.environ.get("IOC_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def nats_names() -> Iterator[tuple[str, str]]:
    """A stream and subject prefix of this test only; the stream is deleted afterwards."""
    host, port = NATS_URL.rsplit("//", 1)[1].rsplit(":", 1)
    require_service(host, int(port), "NATS")
    tag = secrets.token_hex(4)
    names = (f"IOC_TEST_{tag}", f"ioc.test.{tag}")
    yield names

    async def delete() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(names[0])
        finally:
            await nc.close()

    asyncio.run(delete())


@pytest.fixture
async def replicas(database_url: str, nats_names: tuple[str, str], tmp_path: Path) -> AsyncIterator[list[str]]:
    """Two hub processes on the same database and NATS stream; yields their base URLs."""
    env = os.environ | {
        "IOC_DATABASE_URL": database_url,
        "IOC_NATS_URL": NATS_URL,
        "IOC_NATS_STREAM": nats_names[0],
        "IOC_NATS_SUBJECT": nats_names[1],
        "IOC_SECRET_KEY": secrets.token_hex(32),
        "IOC_RELAY_SECRET": secrets.token_hex(32),
        "IOC_DATA_DIR": str(tmp_path / "data"),
        "IOC_DB_ROLE": "ioc_app",
        "IOC_POOL_MIN": "1",
    }
    env.pop("IOC_DEMO", None)
    procs, urls = [], []
    try:
        for i in range(2):
            port = free_port()
            log = (tmp_path / f"hub{i}.log").open("w")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ioc.cli", "hub", "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
            urls.append(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient(timeout=2) as client:
            for url, proc in zip(urls, procs):
                for _ in range(150):
                    assert proc.poll() is None, (tmp_path / f"hub{urls.index(url)}.log").read_text()
                    try:
                        r = await client.get(f"{url}/healthz")
                        if r.status_code == 200:
                            assert r.json()["broker_kind"] == "nats"
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail(f"hub at {url} did not become healthy")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_event_ingested_at_one_replica_reaches_clients_of_the_other(
    replicas: list[str], make: Factory, db: psycopg.AsyncConnection
) -> None:
    a, b = replicas
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    viewer = await make.user("viewer", tree.province, login=False)
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{a}/api/v1/auth/login", json={"username": viewer.user.username, "password": viewer.password})
        token = r.json()["access_token"]  # a token from replica A works at B: one secret
        ws_b = "ws" + b[4:] + f"/ws/events?token={token}"
        ws_a = "ws" + a[4:] + f"/ws/events?token={token}"
        async with connect(ws_b) as at_b, connect(ws_a) as at_a:
            await asyncio.sleep(0.3)
            to_a = [make.event(edge, cam, seq=i) for i in range(20)]
            to_b = [make.event(edge, cam, seq=100 + i) for i in range(20)]
            for url, batch in ((a, to_a), (b, to_b)):
                r = await client.post(f"{url}/api/v1/events", json={"events": batch}, headers=edge.headers)
                assert len(r.json()["accepted"]) == len(batch), r.text
            for ws in (at_b, at_a):
                got = []
                async with asyncio.timeout(10):
                    while len(got) < 40:
                        msg = json.loads(await ws.recv())
                        if not msg["type"].startswith("system."):
                            got.append(msg["id"])
                assert got == [e["id"] for e in to_a + to_b]  # same order at both replicas
            # An acknowledgement at B is pushed to the wall connected to A.
            op = await make.user("operator", tree.province, login=False)
            r = await client.post(f"{b}/api/v1/auth/login", json={"username": op.user.username, "password": op.password})
            r = await client.post(f"{b}/api/v1/events/{to_a[0]['id']}/ack",
                                  headers={"Authorization": f"Bearer {r.json()['access_token']}"})
            assert r.status_code == 200
            async with asyncio.timeout(10):
                while True:
                    msg = json.loads(await at_a.recv())
                    if msg["type"] == "system.acknowledged":
                        break
            assert msg["id"] == to_a[0]["id"] and msg["by"] == op.user.username


async def test_resume_at_the_other_replica_mid_burst(replicas: list[str], make: Factory) -> None:
    a, b = replicas
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    viewer = await make.user("viewer", tree.province, login=False)
    burst = [make.event(edge, cam, seq=i) for i in range(300)]
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{a}/api/v1/auth/login", json={"username": viewer.user.username, "password": viewer.password})
        token = r.json()["access_token"]

        async def send() -> None:  # alternate replicas, like a load balancer would
            for n, start in enumerate(range(0, len(burst), 10)):
                url = (a, b)[n % 2]
                r = await client.post(f"{url}/api/v1/events", json={"events": burst[start:start + 10]}, headers=edge.headers)
                assert len(r.json()["accepted"]) == 10
                await asyncio.sleep(0.01)

        async def read(ws, count: int) -> list[str]:
            got: list[str] = []
            async with asyncio.timeout(30):
                while len(got) < count:
                    msg = json.loads(await ws.recv())
                    if not msg["type"].startswith("system."):
                        got.append(msg["id"])
            return got

        async with connect("ws" + a[4:] + f"/ws/events?token={token}") as ws:
            await asyncio.sleep(0.2)
            sender = asyncio.create_task(send())
            first = await read(ws, 100)
        async with connect("ws" + b[4:] + f"/ws/events?token={token}&since={first[-1]}") as ws:
            rest = await read(ws, len(burst) - len(first))
        await sender
    assert first + rest == [e["id"] for e in burst]
