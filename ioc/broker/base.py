"""The broker interface and the in-process fan-out shared by every broker."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One live message. `frame` is the JSON text sent to clients, serialised once for all.

    `rx` is the event's receive sequence (0 for system messages); `scope` the unit codes
    from the root to the message's unit (empty: everyone may see it).
    """

    rx: int
    type: str
    camera: str | None
    scope: tuple[str, ...]
    frame: str

    @classmethod
    def event(cls, *, rx: int, event: dict[str, Any], scope: Iterable[str]) -> "LiveMessage":
        """A message for an ingested event (`event` is its wire-form envelope)."""
        return cls(rx, event["type"], event["camera"], tuple(scope), json.dumps(event, separators=(",", ":")))

    @classmethod
    def system(cls, body: dict[str, Any], *, scope: Iterable[str] = ()) -> "LiveMessage":
        """A `system.*` message such as `system.acknowledged`; `body["type"]` names it."""
        if not str(body.get("type", "")).startswith("system."):
            raise ValueError("system messages need a type starting with 'system.'")
        return cls(0, body["type"], body.get("camera"), tuple(scope), json.dumps(body, separators=(",", ":"), default=str))

    def to_wire(self) -> list[Any]:
        return [self.rx, self.type, self.camera, list(self.scope), self.frame]

    @classmethod
    def from_wire(cls, item: list[Any]) -> "LiveMessage":
        rx, type_, camera, scope, frame = item
        return cls(int(rx), str(type_), camera, tuple(scope), str(frame))


class Subscriber:
    """One websocket client's bounded queue and filters.

    `offer` never blocks: when the queue is full the message is dropped and the
    subscriber is marked lagged, so a slow client never slows the publisher or others.

    Example::

        sub = Subscriber(user_unit="01", types=("traffic.",), maxsize=4)
        sub.offer(message); await sub.get(timeout=1)
    """

    __slots__ = ("user_unit", "types", "cameras", "unit", "maxsize", "dropped", "_queue", "_ready")

    def __init__(
        self,
        *,
        user_unit: str,
        types: tuple[str, ...] = (),
        cameras: frozenset[str] = frozenset(),
        unit: str | None = None,
        maxsize: int = 256,
    ) -> None:
        self.user_unit = user_unit
        self.types = types
        self.cameras = cameras
        self.unit = unit
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: deque[LiveMessage] = deque()
        self._ready = asyncio.Event()

    def accepts(self, msg: LiveMessage) -> bool:
        """Scope first (server-enforced), then the client's own filters."""
        if msg.scope and self.user_unit not in msg.scope:
            return False
        if msg.rx == 0:  # system messages: scope only
            return True
        if self.unit is not None and self.unit not in msg.scope:
            return False
        if self.types and not msg.type.startswith(self.types):
            return False
        if self.cameras and msg.camera not in self.cameras:
            return False
        return True

    def offer(self, msg: LiveMessage) -> None:
        """Queue the message if it passes the filters; drop it when the queue is full."""
        if not self.accepts(msg):
            return
        if len(self._queue) >= self.maxsize:
            self.dropped += 1
            return
        self._queue.append(msg)
        self._ready.set()

    async def get(self, timeout: float | None = None) -> LiveMessage | None:
        """The next message, or None after `timeout` seconds without one."""
        while not self._queue:
            self._ready.clear()
            try:
                # asyncio.timeout, not wait_for: no extra task per wait (thousands per second).
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None
        return self._queue.popleft()

    def drain(self) -> list[LiveMessage]:
        """Remove and return everything queued."""
        items = list(self._queue)
        self._queue.clear()
        return items

    def take_dropped(self) -> int:
        """How many messages were dropped since the last call (and reset the count)."""
        dropped, self.dropped = self.dropped, 0
        return dropped


class FanOut:
    """The subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self.delivered = 0

    def subscribe(self, **filters: Any) -> Subscriber:
        """Register a new subscriber (see `Subscriber` for the filters)."""
        sub = Subscriber(**filters)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def __len__(self) -> int:
        return len(self._subscribers)

    def dispatch(self, messages: Iterable[LiveMessage]) -> None:
        """Offer every message to every subscriber, in order."""
        subs = tuple(self._subscribers)
        for msg in messages:
            for sub in subs:
                sub.offer(msg)


class Broker(ABC):
    """Carries live messages to the `fanout` of every hub process that shares it."""

    def __init__(self) -> None:
        self.fanout = FanOut()

    @abstractmethod
    async def start(self) -> None:
        """Connect and start receiving."""

    @abstractmethod
    async def close(self) -> None:
        """Stop receiving and disconnect."""

    @abstractmethod
    async def publish(self, messages: list[LiveMessage]) -> None:
        """Deliver messages, in order, to every process's fan-out."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the broker can deliver right now."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """`memory` or `nats`, for /healthz."""
