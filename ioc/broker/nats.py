"""NATS JetStream broker: hub replicas share live messages.

Every replica publishes to one stream and reads it back through an ordered push
consumer that starts at "new" messages, so every replica (the publisher included)
dispatches the same messages in the same order. A batch of messages travels as one NATS
message (one publish acknowledgement per ingest batch, not per event), split so that
no NATS message exceeds the server's payload limit.

Why JetStream and not core NATS: the publish is acknowledged once the stream stored it,
so ingest knows the message left; and the stream keeps a short history for debugging
(`nats stream view`). Websocket resume does not depend on it: that reads the database.
"""

from __future__ import annotations

import asyncio
import json
import logging

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from ioc.broker.base import Broker, LiveMessage
from ioc.exceptions import BrokerError

log = logging.getLogger(__name__)


class NatsBroker(Broker):
    """Live messages through a JetStream stream.

    Example::

        broker = NatsBroker("nats://127.0.0.1:4222", stream="IOC_LIVE", subject="ioc.live")
        await broker.start()
    """

    kind = "nats"

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        subject: str,
        max_age_s: float = 3600,
        publish_timeout_s: float = 1.0,
        connect_wait_s: float = 10.0,
    ) -> None:
        super().__init__()
        self.publish_timeout_s = publish_timeout_s
        self.connect_wait_s = connect_wait_s
        self.url = url
        self.stream = stream
        self.subject = f"{subject}.batch"
        self._filter = f"{subject}.>"
        self._max_age_s = max_age_s
        self._nc: Client | None = None
        self._sub = None
        self._max_payload = 1 << 20

    async def start(self) -> None:
        try:
            # Reconnect forever once running, but give up on the first connection after
            # `connect_wait_s` (nats-py would otherwise retry the first one forever too).
            self._nc = await asyncio.wait_for(
                nats.connect(self.url, name="ioc-hub", max_reconnect_attempts=-1, reconnect_time_wait=1,
                             connect_timeout=2),
                self.connect_wait_s,
            )
            self._max_payload = int(self._nc.max_payload or self._max_payload)
            js = self._nc.jetstream()
            config = StreamConfig(
                name=self.stream,
                subjects=[self._filter],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.MEMORY,
                max_age=self._max_age_s,
            )
            try:
                await js.add_stream(config)
            except BadRequestError:
                await js.update_stream(config)
            self._sub = await js.subscribe(
                self._filter, cb=self._on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
            )
        except (NatsError, OSError, TimeoutError) as exc:
            await self.close()
            raise BrokerError(f"cannot start NATS broker at {self.url}: {exc or 'no answer'}") from exc

    async def _on_message(self, msg: Msg) -> None:
        try:
            items = json.loads(msg.data)
            self.fanout.dispatch(LiveMessage.from_wire(item) for item in items)
        except (ValueError, TypeError) as exc:  # one bad message must not stop the consumer
            log.error("dropping malformed live message on %s: %s", msg.subject, exc)

    async def publish(self, messages: list[LiveMessage]) -> None:
        if not messages:
            return
        if self._nc is None:
            raise BrokerError("NATS broker is not started")
        if not self._nc.is_connected:
            # Fail at once rather than wait for an ack under the ingest lock; the events
            # are stored, and clients catch up from the database when they reconnect.
            raise BrokerError(f"NATS at {self.url} is not connected")
        js = self._nc.jetstream()
        try:
            for chunk in self._chunks(messages):
                await js.publish(self.subject, chunk, stream=self.stream, timeout=self.publish_timeout_s)
        except NatsError as exc:
            raise BrokerError(f"NATS publish failed: {exc}") from exc

    def _chunks(self, messages: list[LiveMessage]) -> list[bytes]:
        limit = self._max_payload - 4096
        chunks: list[bytes] = []
        current: list[str] = []
        size = 2
        for msg in messages:
            item = json.dumps(msg.to_wire(), separators=(",", ":"))
            if current and size + len(item) + 1 > limit:
                chunks.append(("[" + ",".join(current) + "]").encode())
                current, size = [], 2
            current.append(item)
            size += len(item) + 1
        if current:
            chunks.append(("[" + ",".join(current) + "]").encode())
        return chunks

    async def ping(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except NatsError:
                pass
            self._sub = None
        if self._nc is not None:
            try:
                await self._nc.drain()
            except NatsError:
                pass
            self._nc = None
