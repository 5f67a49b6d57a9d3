"""Reading a topic from the start (or the end) without joining a consumer group.

Assigning partitions directly skips the group join, which the embedded broker makes wait half a
session timeout, and leaves no committed offsets behind: right for a kcat-like tool.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from .config import Settings
from .exceptions import GlanceKafkaError


def read_topic(settings: Settings, topic: str, **options: Any) -> Iterator[Message]:
    return read_topics(settings, [topic], **options)


def read_topics(settings: Settings, topics: list[str], *, from_beginning: bool = False,
                max_records: int | None = None, idle_timeout: float = 5.0,
                skip_missing: bool = False) -> Iterator[Message]:
    """Records of `topics` (each partition in order) until max_records or idle_timeout of quiet."""
    conf = dict(settings.librdkafka_config())
    conf.update({"group.id": f"glance-kafka-reader-{uuid.uuid4()}", "enable.auto.commit": "false",
                 "enable.partition.eof": "false"})
    consumer = Consumer(conf)
    try:
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        assignment = []
        for topic in topics:
            try:
                metadata = consumer.list_topics(topic, timeout=10)
            except KafkaException as exc:
                raise GlanceKafkaError(
                    f"cannot reach Kafka at {settings.bootstrap_servers}: {exc.args[0].str()}"
                ) from None
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                if skip_missing:
                    continue
                raise GlanceKafkaError(
                    f"topic {topic} does not exist on {settings.bootstrap_servers}")
            assignment += [TopicPartition(topic, p, start) for p in described.partitions]
        if not assignment:
            return
        consumer.assign(assignment)
        seen = 0
        last = time.monotonic()
        while max_records is None or seen < max_records:
            msg = consumer.poll(0.1)
            if msg is None:
                if time.monotonic() - last > idle_timeout:
                    return
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise GlanceKafkaError(f"reading {msg.topic()}: {msg.error().str()}")
            last = time.monotonic()
            seen += 1
            yield msg
    finally:
        consumer.close()
