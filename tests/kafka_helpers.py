"""Reading topics back in tests (through the product's codec).

A read goes on at least to each partition's high watermark, taken when it starts, and then until
it has been idle: "every record on the topic now", however slowly a loaded machine serves them.
An idle timeout alone ended reads early under a full parallel suite (a one-second lull before the
first fetch read as "the end").
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from producers.config import Settings
from producers.serde import AvroCodec
from producers.topics import pipeline_topics

#: A read that has not reached the high watermarks by then returns what it has (the test's
#: assertions then say what is missing).
READ_TIMEOUT = 60.0


def _read_to_end(settings: Settings, topics: list[str], idle: float) -> list[Any]:
    conf = dict(settings.librdkafka_config())
    conf.update({"group.id": f"test-reader-{uuid.uuid4()}", "enable.auto.commit": "false",
                 "enable.partition.eof": "false", "auto.offset.reset": "earliest"})
    consumer = Consumer(conf)
    def snapshot() -> tuple[dict[tuple[str, int], int], list[TopicPartition]]:
        ends: dict[tuple[str, int], int] = {}
        assignment = []
        for topic in topics:
            described = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if described is None or described.error is not None:
                continue  # not created: nothing on it
            for partition in described.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                           timeout=10)
                if high > low:
                    ends[(topic, partition)] = high
                    assignment.append(TopicPartition(topic, partition, low))
        return ends, assignment

    try:
        ends, assignment = snapshot()
        if not assignment:  # nothing yet: give a record produced just now `idle` to land
            time.sleep(idle)
            ends, assignment = snapshot()
        out: list[Any] = []
        consumer.assign(assignment)
        deadline = time.monotonic() + READ_TIMEOUT
        last = time.monotonic()
        # Until every partition reached its watermark, then until `idle` passes with nothing new:
        # the embedded broker's watermark is the last batch's base offset + 1, not the log end
        # (shared notes, embedded-broker.md), so the rest of that batch comes after it.
        while time.monotonic() < deadline and (ends or time.monotonic() - last < idle):
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            last = time.monotonic()
            out.append(message)
            key = (message.topic(), message.partition())
            if key in ends and message.offset() + 1 >= ends[key]:
                del ends[key]
        return out
    finally:
        consumer.close()


def read_all(settings: Settings, topic: str, idle: float = 1.0) -> list[Any]:
    """Every record of a topic (confluent Message objects), from the beginning."""
    return _read_to_end(settings, [topic], idle)


def decoded(settings: Settings, topic: str, idle: float = 1.0) -> list[dict[str, Any]]:
    codec = AvroCodec(settings)
    return [codec.decode(m.value()) for m in read_all(settings, topic, idle)]


def all_pipeline_records(settings: Settings, idle: float = 1.0) -> dict[str, list[Any]]:
    """Every record of every pipeline topic, by topic, read with one consumer."""
    topics = pipeline_topics(settings)
    out: dict[str, list[Any]] = {t: [] for t in topics}
    for message in _read_to_end(settings, topics, idle):
        out[message.topic()].append(message)
    return out


def strip_added_nulls(decoded_payload: Any, original: Any) -> Any:
    """Decoding may add keys the schema models, as null (or their default) when the input lacked
    them; every key the input had must come back with its value."""
    if not isinstance(decoded_payload, dict) or not isinstance(original, dict):
        return decoded_payload
    return {k: v for k, v in decoded_payload.items() if k in original}


def same_notification(decoded: dict[str, Any], sent: dict[str, Any]) -> bool:
    """The decoded notification carries every value that was sent: the envelope as sent (the
    priority in its canonical spelling, the timestamp as the same instant), every payload key
    with its value, and nothing but nulls added."""
    from datetime import UTC, datetime

    def instant(text: str) -> datetime:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed

    priority = sent["priority"].upper()
    payload, original = decoded["payload"], sent["payload"]
    added = ({k: v for k, v in payload.items() if k not in original}
             if isinstance(payload, dict) and isinstance(original, dict) else {})
    return ({k: decoded[k] for k in ("message_id", "publisher_id", "event_type")}
            == {k: sent[k] for k in ("message_id", "publisher_id", "event_type")}
            and decoded["priority"] == {"WARNING": "WARN"}.get(priority, priority)
            and instant(decoded["timestamp"]) == instant(sent["timestamp"])
            and strip_added_nulls(payload, original) == original
            and all(v is None for v in added.values()))
