"""In-memory broker: one hub process."""

from __future__ import annotations

from ioc.broker.base import Broker, LiveMessage


class MemoryBroker(Broker):
    """Dispatches straight to this process's fan-out.

    Example::

        broker = MemoryBroker(); await broker.start()
        await broker.publish([LiveMessage.system({"type": "system.heartbeat"})])
    """

    kind = "memory"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, messages: list[LiveMessage]) -> None:
        self.fanout.dispatch(messages)

    async def ping(self) -> bool:
        return True
