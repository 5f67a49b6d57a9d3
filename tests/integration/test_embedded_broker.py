"""What the exactness of restored tables relies on, given the embedded broker's end offsets.

The broker reports a partition's end as the start of its last produce batch + 1. Faust restores
a table by reading its changelog up to that end, so changelog records batched together would be
cut off on restore. The worker therefore writes its changelog one record per batch.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from producers.config import Settings
from streams.app import StreamOptions, build


async def _end_after_burst(bootstrap: str, topic: str, max_batch_size: int, n: int = 200) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=max_batch_size,
                                acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, b"x" * 50, partition=0) for _ in range(n)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()


def test_one_record_batches_report_the_true_end(settings: Settings) -> None:
    topic = f"{settings.topic_prefix}burst"
    assert asyncio.run(_end_after_burst(settings.bootstrap_servers, topic, 1)) == 200


def test_the_worker_writes_its_changelog_one_record_per_batch(settings: Settings) -> None:
    pipeline = build(settings, StreamOptions())
    assert pipeline.app.conf.producer_max_batch_size == 1
