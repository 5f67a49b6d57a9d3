"""Reading a topic from the start (or the end) without joining a consumer group.

Assigning partitions directly skips the group join, which the embedded broker makes wait half a
session timeout, and leaves no committed offsets behind: right for a kcat-like tool.

The pipeline's own topics (glance.image.send, ...) are created by the first publisher of their
event type, so one that does not exist yet is an empty topic, not a mistake: the reader watches
for it and reads it from its first record once it appears. Any other missing topic is an error.
"""

from __future__ import annotations

import logging
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
from .exceptions import GlanceKafkaError, TopicNotFound, from_kafka
from .topics import pipeline_topics

log = logging.getLogger(__name__)

#: Seconds between two looks for a pipeline topic that does not exist yet.
WATCH_EVERY = 1.0


def read_topic(settings: Settings, topic: str, **options: Any) -> Iterator[Message]:
    return read_topics(settings, [topic], **options)


def read_topics(settings: Settings, topics: list[str], *, from_beginning: bool = False,
                max_records: int | None = None, idle_timeout: float = 5.0,
                skip_missing: bool = False) -> Iterator[Message]:
    """Records of `topics` (each partition in order) until max_records or idle_timeout of quiet.

    A missing topic raises TopicNotFound, unless it is one of the pipeline's topics (waited for)
    or `skip_missing` is set.
    """
    errors: list[Any] = []
    conf = dict(settings.librdkafka_config())
    conf.update({"group.id": f"glance-kafka-reader-{uuid.uuid4()}", "enable.auto.commit": "false",
                 "enable.partition.eof": "false", "auto.offset.reset": "earliest",
                 # A one-shot read reports the failure once, as its error; no retry narrative.
                 "error_cb": errors.append})
    consumer = Consumer(conf)
    # Reaching the broker gets the idle timeout too (at least 2 s, at most 10 s).
    metadata_timeout = min(10.0, max(2.0, idle_timeout))
    where = f"Kafka at {settings.bootstrap_servers}"

    def partitions_of(topic: str) -> list[int] | None:
        try:
            metadata = consumer.list_topics(topic, timeout=metadata_timeout)
        except KafkaException as exc:
            consumer.poll(0)  # serves the error callback: the cause, not just "timed out"
            raise from_kafka(errors[-1] if errors else exc, where) from None
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            return None
        return list(described.partitions)

    try:
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        known = set(pipeline_topics(settings))
        assignment: list[TopicPartition] = []
        watched: dict[str, set[int]] = {}
        for topic in topics:
            partitions = partitions_of(topic)
            if partitions is not None:
                assignment += [TopicPartition(topic, p, start) for p in partitions]
            elif topic in known:
                log.info("%s does not exist yet (no %s published so far): waiting for it",
                         topic, topic.removeprefix(settings.topic_prefix))
                watched[topic] = set()
            elif not skip_missing:
                raise TopicNotFound(
                    f"topic {topic} does not exist on {settings.bootstrap_servers}")
        if not assignment and not watched:
            return
        consumer.assign(assignment)
        seen = 0
        last = looked = time.monotonic()
        while max_records is None or seen < max_records:
            if watched and time.monotonic() - looked >= WATCH_EVERY:
                looked = time.monotonic()
                for topic, known_partitions in watched.items():
                    # Created since (all of it is new), maybe a partition at a time: looked at
                    # again every time, so a partition that came later is read too.
                    # From offset 0, not OFFSET_BEGINNING: assigned so just after a partition
                    # took its first records, the embedded broker served them from offset 1.
                    new = set(partitions_of(topic) or ()) - known_partitions
                    if new:
                        log.info("%s appeared (partitions %s): reading it from offset 0",
                                 topic, sorted(new))
                        known_partitions |= new
                        consumer.incremental_assign(
                            [TopicPartition(topic, p, 0) for p in sorted(new)])
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
