"""10,000 generated malformed inputs at the publisher, the bridge and the stream worker, with good
records interleaved: every bad one is dead-lettered with the reason its generator says it must be
refused for (or refused to the caller with it), nothing crashes, every good one is delivered with
the values sent and counted: count in = count out + dead letters."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

import pytest
from confluent_kafka import Producer

from producers.bridge import Bridge, BridgeOptions
from producers.config import Settings
from producers.deadletter import REASON, header_value
from producers.exceptions import InvalidNotification
from producers.publisher import Publisher
from producers.serde import AvroCodec
from tests.integration.test_stream_exactness import synthetic_events
from tests.kafka_helpers import all_pipeline_records, same_notification
from tests.mutations import bridge_order, malformed_avro, malformed_json, publisher_order
from tests.processes import Worker, running_workers, total, wait_for, wait_stable


def _counts(settings: Settings) -> tuple[int, list]:
    records = all_pipeline_records(settings)
    dead = records.pop(settings.dlq_topic)
    return sum(len(v) for v in records.values()), dead


def _assert_delivered_as_sent(settings: Settings, good: list) -> None:
    """Exactly the good inputs were delivered, each decoding to the values sent."""
    records = all_pipeline_records(settings)
    records.pop(settings.dlq_topic)
    codec = AvroCodec(settings)
    delivered = {(n := codec.decode(m.value()))["message_id"]: n for v in records.values() for m in v}
    assert len(delivered) == sum(len(v) for v in records.values()) == len(good)
    assert all(same_notification(delivered[n["message_id"]], n) for n in good)


@pytest.mark.slow
def test_publisher_under_4000_malformed_inputs(settings: Settings) -> None:
    good = synthetic_events(2000, seed=31)
    bad = malformed_json(good, 3995, seed=1, huge_count=5)
    stream = [(json.dumps(n).encode(), None) for n in good] + [(m.value, m.reason) for m in bad]
    accepted = 0
    wrong: list = []  # (input index, reason it must be refused for, what the publisher did)
    with Publisher(settings) as publisher:
        for i in publisher_order(len(stream)):
            value, reason = stream[i]
            try:
                publisher.publish(value)
                accepted += 1
                if reason is not None:
                    wrong.append((i, reason, "accepted"))
            except InvalidNotification as exc:
                if exc.reason != reason:
                    wrong.append((i, reason, exc.reason))
    assert wrong == []
    assert accepted == len(good)
    _assert_delivered_as_sent(settings, good)
    _, dead = _counts(settings)
    assert Counter(header_value(m.headers(), REASON) for m in dead) == Counter(m.reason for m in bad)
    assert all(len(m.value()) <= settings.max_message_bytes for m in dead)


@pytest.mark.slow
def test_bridge_under_3000_malformed_inputs(settings: Settings) -> None:
    source = f"{settings.topic_prefix}notifications.info"
    good = synthetic_events(2000, seed=32)
    bad = malformed_json(good, 3000, seed=2)
    other = [{**n, "publisher_id": "compute.host1", "event_type": "compute.instance.create.end"}
             for n in good[:200]]
    wire = [json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(n)}).encode()
            for n in good + other]
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for i, value in enumerate(bridge_order(wire + [m.value for m in bad])):
        producer.produce(source, value)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(30)

    bridge = Bridge(settings, BridgeOptions(source_topics=(source,),
                                            group_id=f"fuzz-{uuid.uuid4().hex[:6]}"))
    runner = threading.Thread(target=bridge.run, daemon=True)
    runner.start()
    try:
        def outcomes() -> Counter:
            return Counter({s.labels["outcome"]: s.value for m in bridge.records.collect()
                            for s in m.samples if s.name.endswith("_total")})
        wait_for(lambda: sum(outcomes().values()) == len(wire) + len(bad), 90,
                 "the bridge read everything")
    finally:
        bridge.stop()
        runner.join(30)
    assert not runner.is_alive()
    seen = outcomes()
    # Another service's events are skipped (no mutation turns publisher_id into other text).
    assert seen == {"skipped": len(other), "forwarded": len(good), "dead_lettered": len(bad)}
    _assert_delivered_as_sent(settings, good)
    _, dead = _counts(settings)
    assert Counter(header_value(m.headers(), REASON) for m in dead) == Counter(m.reason for m in bad)


@pytest.mark.slow
def test_worker_under_3000_malformed_records(settings: Settings, tmp_path) -> None:
    good = synthetic_events(3000, seed=33)
    codec = AvroCodec(settings)
    encoded = [codec.encode(n) for n in good]
    bad = malformed_avro([e.value for e in encoded], 3000, seed=3)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for i, e in enumerate(encoded):
        producer.produce(e.topic, e.value, e.key)
        producer.produce(encoded[i].topic, bad[i].value, e.key)
        if i % 500 == 0:
            producer.poll(0)
    producer.flush(30)

    worker = Worker(settings, tmp_path)
    with running_workers(worker):
        worker.wait_ready()
        def counted() -> tuple[float, float]:
            metrics = worker.metrics()
            return (total(metrics, "glance_dead_letters_total"),
                    total(metrics, "glance_notifications_total"))

        # every bad record is dead-lettered, every good one counted, and nothing more arrives
        dead_letters, notifications = wait_stable(
            counted, lambda c: c[0] >= len(bad) and c[1] >= len(good), 120, "everything counted",
            worker, quiet=2.0)
        assert worker.process.poll() is None  # still running
        assert (dead_letters, notifications) == (len(bad), len(good))
        assert worker.stop() == 0
    _, dead = _counts(settings)
    assert Counter(header_value(m.headers(), REASON) for m in dead) == Counter(m.reason for m in bad)
