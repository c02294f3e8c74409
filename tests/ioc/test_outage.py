"""Issue 8 item 11: with the database away the hub answers a quick 503 with Retry-After.

Before, a request waited psycopg_pool's default 30 s for a connection and then failed
with a raw 500; an edge could not tell an outage from a poison batch. Here a second hub
reaches the test database through a TCP proxy that the test cuts (every open
connection dropped, new ones accepted and left silent, as a blocked or dead database
looks): reads and ingest must answer 503 with `Retry-After` within a few seconds, and
the hub must recover on its own once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from edge.exceptions import HubUnavailable
from edge.hub import HubClient
from ioc.db.pool import POOL_WAIT_S
from ioc.settings import Settings
from tests.conftest import free_port
from tests.ioc.conftest import Factory, Hub, start_hub, stop_hub


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can be cut (connections dropped, new ones left hanging)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cut = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            if self.cut:
                await reader.read()  # accepted, never answered: a blocked database
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self.writers.add(up_writer)

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(OSError, ConnectionError):
                    while data := await src.read(65536):
                        if self.cut:
                            break
                        dst.write(data)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            writer.close()

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            for w in list(self.writers):
                w.close()
            self.writers.clear()

    async def close(self) -> None:
        self.set_cut(True)
        if self.server is not None:
            self.server.close()


async def test_database_away_gives_a_quick_503_and_the_hub_recovers(
    hub: Hub, make: Factory, hub_settings: Settings
) -> None:
    tree = await make.tree()
    viewer = await make.user("viewer", tree.communes[0])
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    url = urlsplit(hub_settings.database_url)
    proxy = CuttableProxy(url.hostname or "127.0.0.1", url.port or 5432)
    await proxy.start()
    netloc = url.netloc.replace(f"{url.hostname}:{url.port}" if url.port else str(url.hostname),
                                f"127.0.0.1:{proxy.port}")
    proxied = hub_settings.model_copy(update={"database_url": urlunsplit(url._replace(netloc=netloc))})
    second, task = await start_hub(proxied)
    try:
        r = await second.client.get("/api/v1/events", headers=viewer.headers)
        assert r.status_code == 200, r.text

        proxy.set_cut(True)
        for attempt in range(4):
            started = time.monotonic()
            if attempt % 2:
                r = await second.client.post("/api/v1/events", json={"events": [make.event(edge, cam)]},
                                             headers=edge.headers)
            else:
                r = await second.client.get("/api/v1/events", headers=viewer.headers)
            took = time.monotonic() - started
            assert r.status_code == 503, (attempt, r.status_code, r.text)
            assert int(r.headers["Retry-After"]) > 0
            assert "database" in r.json()["detail"]
            assert took < POOL_WAIT_S + 3, f"answer {attempt} took {took:.1f} s"
        # The edge's own client reads that 503 as "retry later" (its outbox keeps the event).
        client = HubClient(second.base_url, edge.token)
        try:
            with pytest.raises(HubUnavailable):
                await asyncio.to_thread(client.post_events, [make.event(edge, cam)])
        finally:
            client.close()

        proxy.set_cut(False)
        deadline = time.monotonic() + 30
        while True:
            r = await second.client.get("/api/v1/events", headers=viewer.headers)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            assert r.status_code == 503, r.text
            await asyncio.sleep(0.5)
        assert r.status_code == 200, f"the hub did not recover: {r.status_code} {r.text}"
    finally:
        await stop_hub(second, task)
        await proxy.close()
