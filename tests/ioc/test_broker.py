"""Brokers against the real NATS server: order kept across chunked batches, every
process sees the same stream, memory broker equivalence."""

from __future__ import annotations

import asyncio
import os
import secrets

import nats
import pytest

from ioc.broker import LiveMessage, MemoryBroker, NatsBroker
from tests.conftest import require_service

NATS_URL = os.environ.get("IOC_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _messages(n: int, size: int) -> list[LiveMessage]:
    return [LiveMessage.event(rx=i + 1, event={"type": "traffic.x", "camera": "c", "id": str(i), "pad": "x" * size},
                              scope=("p",)) for i in range(n)]


async def _collect(broker, count: int) -> list[int]:
    sub = broker.fanout.subscribe(user_unit="p", maxsize=count + 10)
    got: list[int] = []
    async with asyncio.timeout(20):
        while len(got) < count:
            msg = await sub.get(timeout=20)
            assert msg is not None
            got.append(msg.rx)
    return got


@pytest.fixture
async def nats_pair():
    host, port = NATS_URL.rsplit("//", 1)[1].rsplit(":", 1)
    require_service(host, int(port), "NATS")
    tag = secrets.token_hex(4)
    brokers = [NatsBroker(NATS_URL, stream=f"IOC_TEST_B_{tag}", subject=f"ioc.testb.{tag}") for _ in range(2)]
    for b in brokers:
        await b.start()
    try:
        yield brokers
    finally:
        for b in brokers:
            await b.close()
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(f"IOC_TEST_B_{tag}")
        finally:
            await nc.close()


async def test_big_batches_are_split_and_arrive_in_order_everywhere(nats_pair) -> None:
    a, b = nats_pair
    messages = _messages(600, 4000)  # ~2.4 MB: several NATS messages under the payload limit
    assert len(a._chunks(messages)) > 1
    at_a = asyncio.create_task(_collect(a, 1200))
    at_b = asyncio.create_task(_collect(b, 1200))
    await asyncio.sleep(0.2)
    await asyncio.gather(a.publish(messages[:300]), b.publish(messages[300:]))
    await a.publish(_messages(600, 10))
    got_a, got_b = await at_a, await at_b
    assert got_a == got_b  # one stream, one order, in every process
    assert sorted(got_a[:600]) == list(range(1, 601))
    assert await a.ping() and await b.ping()


async def test_memory_broker_dispatches_in_order() -> None:
    broker = MemoryBroker()
    await broker.start()
    task = asyncio.create_task(_collect(broker, 50))
    await asyncio.sleep(0)
    await broker.publish(_messages(50, 10))
    assert await task == list(range(1, 51))
    await broker.close()


async def test_system_messages_need_a_system_type() -> None:
    with pytest.raises(ValueError, match="system."):
        LiveMessage.system({"type": "traffic.x"})


async def test_unreachable_nats_is_a_clear_error() -> None:
    from ioc.exceptions import BrokerError
    from tests.conftest import free_port

    broker = NatsBroker(f"nats://127.0.0.1:{free_port()}", stream="IOC_NOPE", subject="ioc.nope", connect_wait_s=3)
    with pytest.raises(BrokerError, match="cannot start NATS broker"):
        await broker.start()
    with pytest.raises(BrokerError, match="not started"):
        await broker.publish(_messages(1, 1))
    assert not await broker.ping()
