"""Attendance reports to the hub: who joined and left which meeting, and when.

`POST {hub}/api/v1/meetings/{room}/attendance`, bearer token, JSON body
``{"participant", "name", "unit", "role", "event": "join"|"leave", "at", "relay"}``.
Reports queue in memory and are retried with backoff, so a slow or absent hub never
holds up the meeting; without a hub URL nothing is sent.

Example::

    reporter = AttendanceReporter("http://hub:8000", token, relay_unit="744")
    await reporter.start()
    reporter.report("m-42", member, "join")
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conferencing.room import Member

logger = logging.getLogger(__name__)

TOKEN_ENV = "IOC_RELAY_HUB_TOKEN"


class AttendanceReporter:
    """Sends join/leave records to the hub in order, retrying until accepted."""

    def __init__(self, hub_url: str | None, token: str | None, *, relay_unit: str, max_queue: int = 10_000) -> None:
        self.hub_url = hub_url.rstrip("/") if hub_url else None
        self.token = token or os.environ.get(TOKEN_ENV)
        self.relay_unit = relay_unit
        self.sent = 0
        self.dropped = 0
        self.log: list[dict[str, Any]] = []
        self._queue: deque[tuple[str, dict[str, Any]]] = deque(maxlen=max_queue)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self.hub_url and self._task is None:
            self._client = httpx.AsyncClient(timeout=5.0)
            self._task = asyncio.create_task(self._run(), name="attendance")

    async def stop(self) -> None:
        if self._task is not None:
            # Give queued reports a moment to leave before shutting down.
            for _ in range(20):
                if not self._queue:
                    break
                await asyncio.sleep(0.05)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def report(self, room: str, member: Member, event: str) -> None:
        """Record one join or leave (non-blocking)."""
        record = {
            "participant": member.id,
            "name": member.name,
            "unit": member.unit,
            "role": member.role,
            "event": event,
            "at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "relay": self.relay_unit,
        }
        self.log.append({"room": room, **record})
        del self.log[:-1000]
        if self.hub_url is None:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append((room, record))
        self._wake.set()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            room, record = self._queue[0]
            try:
                assert self._client is not None
                response = await self._client.post(
                    f"{self.hub_url}/api/v1/meetings/{room}/attendance",
                    json=record,
                    headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
                )
                if response.status_code < 300 or response.status_code in (400, 404, 409, 422):
                    # Accepted, or refused for good (unknown meeting, bad record): do not retry forever.
                    if response.status_code >= 300:
                        logger.warning("hub refused attendance %s: %s %s", record, response.status_code, response.text[:200])
                    self._queue.popleft()
                    self.sent += 1
                    delay = 0.5
                    continue
                logger.warning("hub attendance answered %s; retrying in %.1f s", response.status_code, delay)
            except httpx.HTTPError as exc:
                logger.info("hub unreachable for attendance (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
