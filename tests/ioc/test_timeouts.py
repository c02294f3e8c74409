"""Issue 8 item 14: slow clients are cut off (a real `ioc hub` process, raw sockets).

Before, uvicorn ran with no header or body deadline: a slowloris client sending a header
line every few seconds kept its connection (and a task) for as long as it liked (90 s
measured). Now the headers must be complete within HEADER_TIMEOUT_S, each body chunk
must come within BODY_TIMEOUT_S (else 408) and an idle keep-alive connection is closed
after KEEP_ALIVE_S, while a websocket, once upgraded, stays open.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from ioc.api.slow_clients import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, KEEP_ALIVE_S
from tests.conftest import free_port
from tests.ioc.conftest import Factory

SLACK_S = 3.0


@pytest.fixture
async def hub_process(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """`ioc hub` in its own process; yields (host, port)."""
    env = os.environ | {
        "IOC_DATABASE_URL": database_url,
        "IOC_SECRET_KEY": secrets.token_hex(32),
        "IOC_RELAY_SECRET": secrets.token_hex(32),
        "IOC_DATA_DIR": str(tmp_path / "data"),
        "IOC_DB_ROLE": "ioc_app",
        "IOC_POOL_MIN": "1",
    }
    env.pop("IOC_DEMO", None)
    env.pop("IOC_NATS_URL", None)
    port = free_port()
    log_path = tmp_path / "hub.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ioc.cli", "hub", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                assert proc.poll() is None, log_path.read_text()
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the hub did not become healthy:\n" + log_path.read_text())
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _until_closed(reader: asyncio.StreamReader, limit_s: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent."""
    started = time.monotonic()
    got = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), limit_s - (time.monotonic() - started))
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - started, got


async def _slow_headers(host: str, port: int) -> tuple[float, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
    await writer.drain()

    async def drip() -> None:
        # One more header line a second, never the blank line that ends them.
        for n in range(90):
            await asyncio.sleep(1)
            try:
                writer.write(b"X-Slow-%d: x\r\n" % n)
                await writer.drain()
            except (ConnectionError, OSError):
                return

    task = asyncio.create_task(drip())
    try:
        return await _until_closed(reader, 60)
    finally:
        task.cancel()
        writer.close()


async def _slow_body(host: str, port: int) -> tuple[float, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"username\":")
    await writer.drain()
    try:
        return await _until_closed(reader, 60)
    finally:
        writer.close()


async def _idle_keep_alive(host: str, port: int) -> tuple[float, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
    await writer.drain()
    try:
        return await _until_closed(reader, 60)
    finally:
        writer.close()


async def test_slow_headers_slow_body_and_idle_connections_are_closed(hub_process: tuple[str, int]) -> None:
    host, port = hub_process
    (head_s, head), (body_s, body), (idle_s, idle) = await asyncio.gather(
        _slow_headers(host, port), _slow_body(host, port), _idle_keep_alive(host, port))
    assert head_s < HEADER_TIMEOUT_S + SLACK_S, f"slow headers held {head_s:.1f} s"
    assert b"HTTP/1.1 200" not in head
    assert BODY_TIMEOUT_S - 1 < body_s < BODY_TIMEOUT_S + SLACK_S, f"slow body held {body_s:.1f} s"
    assert body.startswith(b"HTTP/1.1 408"), body[:200]
    assert idle.startswith(b"HTTP/1.1 200"), idle[:200]
    assert idle_s < KEEP_ALIVE_S + SLACK_S, f"idle keep-alive held {idle_s:.1f} s"


async def test_an_upgraded_websocket_outlives_the_header_deadline(hub_process: tuple[str, int], make: Factory) -> None:
    host, port = hub_process
    tree = await make.tree()
    viewer = await make.user("viewer", tree.province, login=False)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
        r = await client.post("/api/v1/auth/login", json={"username": viewer.user.username, "password": viewer.password})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        # Ordinary requests on one keep-alive connection, a pause apart, still work.
        for _ in range(2):
            assert (await client.get("/healthz")).status_code == 200
            await asyncio.sleep(1)
    async with connect(f"ws://{host}:{port}/ws/events?token={token}") as ws:
        await asyncio.sleep(HEADER_TIMEOUT_S + 2)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
