"""Outages: the broker paused mid-publish, the local buffer's bound, a worker killed while the
broker is away. Each uses a broker of its own, since it pauses it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from producers.broker import EmbeddedBroker
from producers.config import Settings
from producers.exceptions import DeliveryError
from producers.publisher import Publisher
from streams.rows import partition_of
from tests.expected import expected_totals
from tests.integration.test_stream_exactness import assert_exact, synthetic_events
from tests.kafka_helpers import all_pipeline_records, read_all
from tests.processes import Worker, running_workers, total, wait_for, wait_stable

PAUSE = 30.0


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


def _settings(broker: EmbeddedBroker) -> Settings:
    return Settings(bootstrap_servers=broker.bootstrap_servers,
                    topic_prefix=f"o{uuid.uuid4().hex[:6]}.glance.")


class ArrivalLog(threading.Thread):
    """Reads topics from the beginning as the records arrive, noting when each one did."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                                  "group.id": f"arrivals-{uuid.uuid4().hex[:6]}",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING)
                              for t in topics for p in range(4)])
        self.arrived: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            message = self.consumer.poll(0.1)
            if message is not None and not message.error():
                self.arrived.append(time.monotonic())
        self.consumer.close()

    def between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in list(self.arrived))


@pytest.mark.slow
def test_broker_paused_for_30s_while_publishing_loses_nothing(own_broker: EmbeddedBroker) -> None:
    settings = _settings(own_broker)
    events = synthetic_events(9000, seed=8)
    rate = 200.0  # notifications/s: 45 s of traffic with a 30 s outage in the middle
    outage: dict[str, float] = {}
    arrivals = ArrivalLog(settings, [settings.topic(t) for t in
                                     ("image.send", "task.success", "task.failure")])

    def pause_broker(publisher: Publisher) -> None:
        time.sleep(8)
        own_broker.pause()
        outage["paused"] = time.monotonic()
        time.sleep(2)  # what was in flight at the stop is answered never, or already was
        outage["accepted"], outage["delivered"] = publisher.stats.accepted, publisher.stats.delivered
        time.sleep(PAUSE - 2)
        outage["still_delivered"] = publisher.stats.delivered
        outage["still_accepted"] = publisher.stats.accepted
        outage["resumed"] = time.monotonic()
        own_broker.resume()

    start = time.monotonic()
    with Publisher(settings) as publisher:
        publisher.publish(events[0])
        publisher.flush(30)  # the topics exist: the arrival log can read them
        arrivals.start()
        outage_thread = threading.Thread(target=pause_broker, args=(publisher,), daemon=True)
        outage_thread.start()
        for i, n in enumerate(events[1:], start=1):
            publisher.publish(n)  # never blocks here: the bounded buffer holds the outage
            publisher.poll(0)
            ahead = (i + 1) / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        outage_thread.join(60)
        assert "resumed" in outage
    assert publisher.stats.delivered == len(events) and publisher.stats.failed == 0
    try:
        # every record arrives once, and nothing more after
        arrived = wait_stable(lambda: len(arrivals.arrived), lambda n: n >= len(events), 60,
                              "every record on the topics", quiet=2.0)
    finally:
        arrivals.done.set()
        arrivals.join(10)
    assert arrived == len(events)
    # delivery really stalled while the broker was away: nothing delivered, nothing arrived,
    # while the publisher went on accepting (into its local buffer) ...
    assert outage["still_delivered"] == outage["delivered"]
    assert outage["still_accepted"] - outage["accepted"] >= rate * (PAUSE - 2) * 0.8
    assert arrivals.between(outage["paused"] + 2, outage["resumed"]) == 0
    # ... and records arrived before it and after it
    assert arrivals.between(0, outage["paused"]) > 0
    assert arrivals.between(outage["resumed"], time.monotonic()) > 0


@pytest.mark.slow
def test_full_buffer_blocks_then_raises_and_never_drops(own_broker: EmbeddedBroker) -> None:
    """The bound: `queue.buffering.max.messages`. Reached, publish() blocks up to
    buffer_full_timeout, then raises DeliveryError: that notification was not accepted."""
    settings = _settings(own_broker)
    events = synthetic_events(400, seed=9)
    with Publisher(settings) as warm:  # create the topics while the broker is up
        warm.publish(events[0])
    publisher = Publisher(settings, buffer_full_timeout=2.0,
                          producer_config={"queue.buffering.max.messages": "100"})
    own_broker.pause()
    try:
        accepted = 0
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="not accepted"):
            for n in events[1:]:
                publisher.publish(n)
                accepted += 1
        assert accepted == 100
        assert time.monotonic() - started >= 2.0  # it blocked before giving up
    finally:
        own_broker.resume()
    publisher.flush(60)
    assert publisher.stats.accepted == publisher.stats.delivered == accepted
    records = all_pipeline_records(settings)
    assert sum(len(v) for v in records.values()) == accepted + 1


def _replays_pending(settings: Settings) -> list[tuple[str, int, int, int]]:
    """Source partitions whose durable rows (the changelog) hold offsets at or past the group's
    committed offset: a worker starting now must re-read those records (as (topic, partition,
    last applied, committed))."""
    rows: dict[str, object] = {}
    for message in read_all(settings, f"{settings.topic_prefix}streams-aggregates-changelog",
                            idle=0.5):
        key = json.loads(message.key())
        rows[key] = json.loads(message.value()) if message.value() is not None else None
    applied: dict[tuple[str, int], int] = {}
    for key, value in rows.items():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
            for topic, offset in value[1].items():
                tp = (topic, partition_of(key))
                applied[tp] = max(applied.get(tp, -1), offset)
    if not applied:
        return []
    group = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                      "group.id": f"{settings.topic_prefix}streams", "enable.auto.commit": False})
    try:
        committed = group.committed([TopicPartition(t, p) for t, p in applied], timeout=30)
    finally:
        group.close()
    return [(tp.topic, tp.partition, applied[tp.topic, tp.partition], tp.offset)
            for tp in committed if applied[tp.topic, tp.partition] >= max(tp.offset, 0)]


@pytest.mark.slow
def test_worker_killed_while_broker_paused_totals_stay_exact(own_broker: EmbeddedBroker,
                                                             tmp_path) -> None:
    settings = _settings(own_broker)
    events = synthetic_events(8000, seed=10)
    expected = expected_totals(events)
    published = 3000
    with Publisher(settings) as publisher:
        for n in events[:published]:
            publisher.publish(n)
    first, second = Worker(settings, tmp_path, "first"), Worker(settings, tmp_path, "second")
    with running_workers(first):
        first.wait_ready()
        pending: list = []
        feeder = Publisher(settings)
        while not pending and published < 4000:
            # a batch applied, its rows durable, its offsets not yet committed (they are every
            # second): freeze the worker there and look; else feed it another batch
            for n in events[published:published + 100]:
                feeder.publish(n)
            feeder.flush(30)
            published += 100
            wait_for(lambda want=published: total(first.metrics(), "glance_notifications_total")
                     >= want,
                     60, "the batch processed", first, interval=0.02)
            os.kill(first.process.pid, signal.SIGSTOP)
            pending = _replays_pending(settings)
            if not pending:
                os.kill(first.process.pid, signal.SIGCONT)
        feeder.close()
        assert pending, "never caught the worker between a durable batch and its commit"
        own_broker.pause()
        first.kill()
    try:
        second.start()
        time.sleep(10)  # the new worker starts while the broker answers nothing
        own_broker.resume()
        with Publisher(settings) as publisher:
            for n in events[published:]:
                publisher.publish(n)
        second.wait_ready(120)
        metrics = wait_stable(second.metrics, lambda m: total(
            m, "glance_notifications_total") >= len(events), 120, "all processed", second,
            quiet=2.0)
        assert total(metrics, "glance_notifications_total") == len(events)
        assert_exact(metrics, expected)
        # the restart re-read records the first worker had applied: its rows skipped them
        assert total(metrics, "glance_replays_skipped_total") > 0, pending
    finally:
        own_broker.resume()
        second.stop()
