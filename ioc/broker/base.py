"""The broker interface and the in-process fan-out shared by every broker."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence


def ws_text_frame(text: str) -> bytes:
    """`text` as one complete, unmasked websocket text frame (RFC 6455 §5.2), as a server
    sends it: FIN + opcode 0x1, the payload length (7 bits, or 126 + 16 bits, or
    127 + 64 bits), then the UTF-8 payload.

    Example::

        ws_text_frame("hi") == b"\x81\x02hi"
    """
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One live message. `frame` is the JSON text sent to clients, serialised once for all;
    `ws_frame` the same text as a complete websocket frame, also encoded once for all, that
    a session may write straight to its socket (see ioc.api.ws).

    `rx` is the event's receive sequence (0 for system messages); `scope` the unit codes
    from the root to the message's unit (empty: everyone may see it).
    """

    rx: int
    type: str
    camera: str | None
    scope: tuple[str, ...]
    frame: str
    ws_frame: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ws_frame", ws_text_frame(self.frame))

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

    While its session is idle and nothing is queued, the session may set `direct` to a
    function that writes websocket frames straight to the client's socket; `offer_batch`
    then writes the accepted messages at once instead of queueing them (no task wake-up,
    one socket write per batch). `direct` returning False (socket full or closing) turns
    it off and the messages are queued as usual: the session takes over from there.

    `last_rx` is the highest event receive sequence handed to the client; an event at or
    below it was already sent (from the database during a resume) and is skipped.

    Example::

        sub = Subscriber(user_unit="01", types=("traffic.",), maxsize=4)
        sub.offer(message); await sub.get(timeout=1)
    """

    __slots__ = ("user_unit", "types", "cameras", "unit", "maxsize", "dropped", "last_rx", "direct",
                 "_queue", "_ready")

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
        self.last_rx = 0
        self.direct: Callable[[bytes], bool] | None = None
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

    def is_new(self, msg: LiveMessage) -> bool:
        """False for an event the client already has; otherwise advance `last_rx`."""
        if msg.rx:
            if msg.rx <= self.last_rx:
                return False
            self.last_rx = msg.rx
        return True

    def offer(self, msg: LiveMessage) -> None:
        """Queue the message if it passes the filters; drop it when the queue is full."""
        self.offer_batch((msg,))

    def offer_batch(self, messages: Sequence[LiveMessage]) -> None:
        """`offer` for each message, in order; written straight out when `direct` is set."""
        accepted = [m for m in messages if self.accepts(m)]
        if not accepted:
            return
        direct = self.direct
        if direct is not None and not self._queue:
            fresh = [m for m in accepted if not m.rx or m.rx > self.last_rx]
            if not fresh:
                return
            # A batch larger than the queue would have overflowed it: the queue path below
            # drops the excess and the session says `system.lagged`, as without `direct`.
            if len(fresh) <= self.maxsize:
                if direct(b"".join(m.ws_frame for m in fresh)):
                    for m in fresh:
                        self.is_new(m)
                    return
                self.direct = None  # socket full or closing: queue, and let the session deal with it
        for msg in accepted:
            if len(self._queue) >= self.maxsize:
                self.dropped += 1
                continue
            self._queue.append(msg)
        if self._queue:
            self._ready.set()

    @property
    def pending(self) -> int:
        """How many messages are queued."""
        return len(self._queue)

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
        sub.direct = None
        self._subscribers.discard(sub)

    def __len__(self) -> int:
        return len(self._subscribers)

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(tuple(self._subscribers))

    def dispatch(self, messages: Iterable[LiveMessage]) -> None:
        """Offer every message to every subscriber, in order (the whole batch to one
        subscriber at a time, so that a direct writer sends it in one socket write)."""
        batch = tuple(messages)
        if not batch:
            return
        for sub in tuple(self._subscribers):
            sub.offer_batch(batch)


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
