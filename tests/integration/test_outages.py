"""Outages: the broker paused mid-publish, the local buffer's bound, a worker killed while the
broker is away. Each uses a broker of its own, since it pauses it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from producers.broker import EmbeddedBroker
from producers.config import Settings
from producers.exceptions import DeliveryError
from producers.publisher import Publisher
from tests.expected import expected_totals
from tests.integration.test_stream_exactness import assert_exact, synthetic_events
from tests.kafka_helpers import all_pipeline_records
from tests.processes import Worker, running_workers, total, wait_for

PAUSE = 30.0


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


def _settings(broker: EmbeddedBroker) -> Settings:
    return Settings(bootstrap_servers=broker.bootstrap_servers,
                    topic_prefix=f"o{uuid.uuid4().hex[:6]}.glance.")


@pytest.mark.slow
def test_broker_paused_for_30s_while_publishing_loses_nothing(own_broker: EmbeddedBroker) -> None:
    settings = _settings(own_broker)
    events = synthetic_events(9000, seed=8)
    rate = 200.0  # notifications/s: 45 s of traffic with a 30 s outage in the middle
    paused = threading.Event()

    def outage() -> None:
        time.sleep(8)
        own_broker.pause()
        paused.set()
        time.sleep(PAUSE)
        own_broker.resume()

    threading.Thread(target=outage, daemon=True).start()
    start = time.monotonic()
    with Publisher(settings) as publisher:
        for i, n in enumerate(events):
            publisher.publish(n)  # never blocks here: the bounded buffer holds the outage
            publisher.poll(0)
            ahead = (i + 1) / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        assert paused.is_set()
    assert publisher.stats.delivered == len(events) and publisher.stats.failed == 0
    records = all_pipeline_records(settings)
    assert sum(len(v) for v in records.values()) == len(events)


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


@pytest.mark.slow
def test_worker_killed_while_broker_paused_totals_stay_exact(own_broker: EmbeddedBroker,
                                                             tmp_path) -> None:
    settings = _settings(own_broker)
    events = synthetic_events(8000, seed=10)
    expected = expected_totals(events)
    with Publisher(settings) as publisher:
        for n in events[:4000]:
            publisher.publish(n)
    first, second = Worker(settings, tmp_path, "first"), Worker(settings, tmp_path, "second")
    with running_workers(first):
        first.wait_ready()
        wait_for(lambda: total(first.metrics(), "glance_notifications_total") >= 1000, 60,
                 "some processed", first)
        own_broker.pause()
        first.kill()
    try:
        second.start()
        time.sleep(10)  # the new worker starts while the broker answers nothing
        own_broker.resume()
        with Publisher(settings) as publisher:
            for n in events[4000:]:
                publisher.publish(n)
        second.wait_ready(120)
        wait_for(lambda: total(second.metrics(), "glance_notifications_total") >= len(events),
                 120, "all processed", second)
        time.sleep(2)
        metrics = second.metrics()
        assert total(metrics, "glance_notifications_total") == len(events)
        assert_exact(metrics, expected)
    finally:
        own_broker.resume()
        second.stop()
