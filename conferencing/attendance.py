"""Attendance reports to the hub: who joined and left which meeting, and when.

`POST {hub}/api/v1/meetings/{room}/attendance`, JSON body
``{"participant", "name", "unit", "role", "event": "join"|"leave"|"end", "at", "relay"}``.
The bearer token is the relay's long-lived hub token (``--hub-token`` or
``$IOC_RELAY_HUB_TOKEN``); without one, a relay that holds ``IOC_RELAY_SECRET`` signs a
short relay join token for that meeting, which the hub also accepts.
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

from conferencing.exceptions import TokenError
from contract.backoff import Backoff
from contract.tokens import issue_join_token

if TYPE_CHECKING:
    from conferencing.room import Member

logger = logging.getLogger(__name__)

TOKEN_ENV = "IOC_RELAY_HUB_TOKEN"


class AttendanceReporter:
    """Sends join/leave records to the hub in order, retrying until accepted."""

    def __init__(
        self, hub_url: str | None, token: str | None, *, relay_unit: str, secret: str | None = None,
        max_queue: int = 10_000,
    ) -> None:
        self.hub_url = hub_url.rstrip("/") if hub_url else None
        self.token = token or os.environ.get(TOKEN_ENV)
        self.secret = secret
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
        self._enqueue(room, record)

    def report_end(self, room: str, by: str | None) -> None:
        """The chair ended the meeting: the hub closes every open stay."""
        record = {"participant": by or "-", "event": "end", "relay": self.relay_unit,
                  "at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}
        self._enqueue(room, record)

    def _enqueue(self, room: str, record: dict[str, Any]) -> None:
        self.log.append({"room": room, **record})
        del self.log[:-1000]
        if self.hub_url is None:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append((room, record))
        self._wake.set()

    def _token(self, room: str) -> str | None:
        if self.token:
            return self.token
        try:
            return issue_join_token(room=room, sub=f"relay-{self.relay_unit}", name=f"Relay {self.relay_unit}",
                                    unit=self.relay_unit, role="relay", pub=False, ttl_s=60, secret=self.secret)
        except TokenError:
            return None  # the hub will answer 401 and we retry; the log says why

    async def _run(self) -> None:
        backoff = Backoff(0.5, 30.0)
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            room, record = self._queue[0]
            try:
                assert self._client is not None
                token = self._token(room)
                response = await self._client.post(
                    f"{self.hub_url}/api/v1/meetings/{room}/attendance",
                    json=record,
                    headers={"Authorization": f"Bearer {token}"} if token else {},
                )
                code = response.status_code
                if code < 300 or (400 <= code < 500 and code not in (401, 403, 408, 429)):
                    # Accepted, or refused for good (unknown meeting, bad record): do not retry forever.
                    if code >= 300:
                        logger.warning("hub refused attendance %s: %s %s", record, code, response.text[:200])
                    self._queue.popleft()
                    self.sent += 1
                    backoff.reset()
                    continue
                logger.warning("hub attendance answered %s; retrying within %.1f s", code, backoff.cap_s)
            except httpx.HTTPError as exc:
                logger.info("hub unreachable for attendance (%s); retrying within %.1f s", exc, backoff.cap_s)
            await asyncio.sleep(backoff.next())
