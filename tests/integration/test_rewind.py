"""Records fetched but not applied (a rebalance came between) must come again.

The stream worker hands whole fetches to the aggregator; when a rebalance lands between a fetch
and its apply, the batch is dropped and its partitions are sought back to their committed
offsets (`streams.ingest._rewind`). These tests run that seek against the embedded broker.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from producers.config import Settings
from streams.ingest import _rewind


async def _rewind_scenario(bootstrap: str, topic: str, group: str) -> dict[str, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=1)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, b"%d" % i, partition=0)
                               for i in range(30)])
        await producer.send_and_wait(topic, b"other", partition=1)
    finally:
        await producer.stop()
    mine, other = TopicPartition(topic, 0), TopicPartition(topic, 1)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([mine])
        seen: dict[str, int] = {}

        async def drain() -> int:
            read = 0
            while True:
                batch = await consumer.getmany(mine, timeout_ms=1000)
                if not batch:
                    return read
                read += sum(len(records) for records in batch.values())

        seen["first read"] = await drain()
        # Nothing committed yet: back to where a new member would start.
        await _rewind(consumer, {mine, other})  # `other` is not assigned: left alone
        seen["after rewind, none committed"] = await consumer.position(mine)
        seen["re-read"] = await drain()
        await consumer.commit({mine: OffsetAndMetadata(12, "")})
        await _rewind(consumer, {mine})
        seen["after rewind, 12 committed"] = await consumer.position(mine)
        seen["re-read from commit"] = await drain()
        return seen
    finally:
        await consumer.stop()


def test_rewind_seeks_assigned_partitions_back_to_their_committed_offsets(
        settings: Settings) -> None:
    topic = f"{settings.topic_prefix}rewind"
    seen = asyncio.run(_rewind_scenario(settings.bootstrap_servers, topic,
                                        f"{settings.topic_prefix}rewind-group"))
    assert seen == {
        "first read": 30,
        "after rewind, none committed": 0,
        "re-read": 30,
        "after rewind, 12 committed": 12,
        "re-read from commit": 18,
    }
