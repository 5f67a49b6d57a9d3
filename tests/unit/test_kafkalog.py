"""An outage is one line, then one a minute, then "reachable again"; not a line per reconnect."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from producers import kafkalog
from producers.kafkalog import FoldRepeats, Reachability


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


#: librdkafka's error for a refused connect, as its error callback gets it.
REFUSED = KafkaError(KafkaError._TRANSPORT, "kafka-1:9092/bootstrap: Connect to ipv4#10.0.0.1:"
                     "9092 failed: Connection refused (after 0ms in state CONNECT)")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    """kafkalog's clock, moved by the test."""
    clock = _Clock()
    monkeypatch.setattr(kafkalog.time, "monotonic", clock)
    return clock


@pytest.fixture
def reach() -> Reachability:
    return Reachability("kafka-1:9092", logging.getLogger("test.reach"))


def test_an_outage_is_reported_once_then_once_a_minute_then_its_end(
        clock: _Clock, reach: Reachability, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="test.reach"):
        for _ in range(150 * 4):  # librdkafka's pace: about 4 a second, for 150 s
            reach.on_error(REFUSED)
            reach.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
            clock.now += 0.25
        reach.answered()
        reach.answered()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot reach Kafka at kafka-1:9092 (Connect to ipv4#10.0.0.1:9092 failed: Connection "
        "refused); retrying until it answers",
        "Kafka at kafka-1:9092 still unreachable after 60 s (Connect to ipv4#10.0.0.1:9092 failed: "
        "Connection refused); still retrying",
        "Kafka at kafka-1:9092 still unreachable after 120 s (Connect to ipv4#10.0.0.1:9092 "
        "failed: Connection refused); still retrying",
        "reached Kafka at kafka-1:9092 again after 150 s",
    ]


def test_an_answer_in_flight_when_the_broker_went_does_not_end_the_outage(
        clock: _Clock, reach: Reachability, caplog: pytest.LogCaptureFixture) -> None:
    """Seen in the liveness test: the bridge's producer logged "cannot reach", then the delivery
    report of a record the broker had acked just before it stopped ("reached again after 0 s"),
    then "cannot reach" again."""
    with caplog.at_level(logging.WARNING, logger="test.reach"):
        reach.on_error(REFUSED)
        clock.now += 0.01
        reach.answered()  # the late delivery report
        for _ in range(20):
            clock.now += 0.25
            reach.on_error(REFUSED)
        clock.now += 3
        reach.answered()  # the broker is back
    assert [r.getMessage() for r in caplog.records] == [
        "cannot reach Kafka at kafka-1:9092 (Connect to ipv4#10.0.0.1:9092 failed: Connection "
        "refused); retrying until it answers",
        "reached Kafka at kafka-1:9092 again after 8 s",
    ]


def test_librdkafka_connect_failures_are_left_to_the_error_callback_and_repeats_fold(
        clock: _Clock) -> None:
    fold = FoldRepeats(window=60)

    def record(name: str, args: tuple[str, ...]) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 0, "%s [%s] %s", args, None)

    fail = ("FAIL", "rdkafka#producer-1", "b/bootstrap: Connect to ipv4#10.0.0.1:9092 failed")
    assert not fold.filter(record("librdkafka", fail))
    other = ("REQTMOUT", "rdkafka#producer-1", "[thrd:b/1]: b/1: Timed out 1 in-flight request")
    passed = []
    for _ in range(70):
        passed.append(fold.filter(record("librdkafka", other)))
        clock.now += 1
    assert passed.count(True) == 2  # the first, and the first after the window, with a count
