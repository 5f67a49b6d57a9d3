"""What the exactness of restored tables relies on, given the embedded broker's end offsets.

The broker reports a partition's end as the start of its last produce batch + 1. Faust restores
a table by reading its changelog up to that end, so changelog records batched together would be
cut off on restore. The worker's changelog writer therefore ends every flush with one record
alone in its batch, per partition it wrote to.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from producers.config import Settings
from streams.changelog import ChangelogWriter


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


def test_a_multi_record_burst_reports_a_short_end(settings: Settings) -> None:
    """The broker behaviour the changelog writer works around (if this starts failing, the
    workaround can go)."""
    topic = f"{settings.topic_prefix}burst-batched"
    assert asyncio.run(_end_after_burst(settings.bootstrap_servers, topic, 16384)) < 200


async def _ends_and_counts(bootstrap: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(4)]
        consumer.assign(partitions)
        ends = {tp.partition: end for tp, end in (await consumer.end_offsets(partitions)).items()}
        counts = dict.fromkeys(range(4), 0)
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                return ends, counts
            for tp, records in batch.items():
                counts[tp.partition] += len(records)
    finally:
        await consumer.stop()


def test_a_changelog_flush_leaves_the_true_end(settings: Settings) -> None:
    topic = f"{settings.topic_prefix}changelog-ends"
    writer = ChangelogWriter(settings, topic)
    rows = [(f"p{i % 4}|served|project-{i}|complete", [i, {"t": i}]) for i in range(800)]
    for start in range(0, 800, 400):  # two flushes, as two batches of a worker would
        asyncio.run(writer.flush(rows[start:start + 400]))
    writer.close()
    ends, counts = asyncio.run(_ends_and_counts(settings.bootstrap_servers, topic))
    assert ends == counts
    assert sum(counts.values()) == 800 + 8  # every row, plus one repeated row per partition
