"""Live-event broker: fans events and system messages out to this process's websocket
clients, and, with NATS, to every hub replica.

    LiveMessage        one message, serialised once, with what filters need
    Subscriber         a bounded per-client queue that never blocks the publisher
    FanOut             this process's subscribers
    MemoryBroker       one process: publish() dispatches straight to the FanOut
    NatsBroker         replicas: publish() goes to a JetStream stream that every replica
                       consumes in order and dispatches to its own FanOut

Example::

    broker = make_broker(settings)
    await broker.start()
    sub = broker.fanout.subscribe(user_unit="01", types=("traffic.",), maxsize=256)
    await broker.publish([LiveMessage.event(rx=1, event=envelope, scope=("01", "0101"))])
    message = await sub.get(timeout=1.0)
"""

from ioc.broker.base import Broker, FanOut, LiveMessage, Subscriber
from ioc.broker.memory import MemoryBroker
from ioc.broker.nats import NatsBroker
from ioc.settings import Settings


def make_broker(settings: Settings) -> Broker:
    """NATS JetStream when `IOC_NATS_URL` is set, otherwise in-memory."""
    if settings.nats_url:
        return NatsBroker(settings.nats_url, stream=settings.nats_stream, subject=settings.nats_subject)
    return MemoryBroker()


__all__ = ["Broker", "FanOut", "LiveMessage", "MemoryBroker", "NatsBroker", "Subscriber", "make_broker"]
