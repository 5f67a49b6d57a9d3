"""A real worker over the real broker: published notifications become exact /metrics totals."""

from __future__ import annotations

import json
import signal

import pytest
from confluent_kafka import Producer

from producers.config import Settings
from producers.exceptions import InvalidNotification
from producers.publisher import Publisher
from tests.expected import METRIC_OF, expected_totals
from tests.glance_events import glance_notifications, seed_notifications
from tests.kafka_helpers import read_all
from tests.processes import Worker, running_workers, total, wait_for


def assert_metrics_equal(metrics: dict, expected: dict) -> None:
    for kind, counter in expected.items():
        name, labels = METRIC_OF[kind]
        got = {tuple(dict(k)[label] for label in labels): v
               for k, v in metrics.get(name, {}).items()}
        assert got == {k: float(v) for k, v in counter.items()}, name


def test_worker_serves_exact_totals_on_metrics(settings: Settings, tmp_path) -> None:
    sent = glance_notifications() + seed_notifications()
    duplicates = sent[:7]  # e.g. a bridge retry: same message ids again
    with Publisher(settings) as publisher:
        for n in sent + duplicates:
            publisher.publish(n)
    # a record on a per-type topic that is not Avro (someone else's producer)
    raw = Producer({"bootstrap.servers": settings.bootstrap_servers})
    raw.produce(settings.topic("image.send"), b'{"not": "avro"}', b"k",
                headers=[("traceparent", b"00-abc-01")])
    raw.flush(10)
    with Publisher(settings) as publisher, pytest.raises(InvalidNotification):
        publisher.publish(b"{truncated")  # one the publisher refuses: dead-lettered

    expected = expected_totals(sent)
    worker = Worker(settings, tmp_path)
    with running_workers(worker):
        worker.wait_ready()
        wanted = sum(expected["notifications"].values())
        metrics = wait_for(lambda: (m := worker.metrics()) and total(
            m, "glance_notifications_total") == wanted and total(
            m, "glance_duplicates_skipped_total") == len(duplicates) and m, 60,
            "all notifications counted", worker)
        assert_metrics_equal(metrics, expected)
        metrics = wait_for(lambda: (m := worker.metrics()) and total(
            m, "glance_dead_letters_total") == 2 and m, 30, "dead letters counted", worker)
        assert total(metrics, "glance_dead_letters_total", reason="bad_framing") == 1
        assert total(metrics, "glance_dead_letters_total", reason="not_json") == 1
        assert total(metrics, "glance_worker_assigned_partitions") == 4
        for name in metrics:
            for labels in metrics[name]:
                assert not {"image_id", "user", "user_id", "ip", "destination_ip"} & {
                    k for k, _ in labels}

        # the JSON view for one project
        project = next(iter(expected["served"]))[0]
        status, body = worker.get(f"/projects/{project}/", web=True)
        assert status == 200
        view = json.loads(body)
        assert sum(view["served_bytes"].values()) == sum(
            v for (p, _), v in expected["served"].items() if p == project)

        assert worker.stop() == 0  # SIGTERM: a clean exit
    dead = read_all(settings, settings.dlq_topic)
    assert sorted(m.value() for m in dead) == [b'{"not": "avro"}', b"{truncated"]
    from_worker = next(m for m in dead if m.value() == b'{"not": "avro"}')
    assert ("traceparent", b"00-abc-01") in from_worker.headers()  # kept for a replay
    assert from_worker.key() == b"k"


def test_ready_only_with_partitions_and_sigterm_exits_cleanly(settings: Settings, tmp_path) -> None:
    worker = Worker(settings, tmp_path)
    with running_workers(worker):
        status, _ = worker.get("/healthz")
        assert status in (0, 200)
        worker.wait_ready()
        assert worker.get("/healthz")[0] == 200
        assert worker.get("/nope")[0] == 404
        worker.kill(signal.SIGTERM)
        assert worker.process.returncode == 0
