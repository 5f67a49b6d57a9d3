"""Inside Glance's log, a Kafka outage is one line from the driver, not four a second."""

from __future__ import annotations

import logging
import time

import pytest

from producers.config import Settings
from tests.glance_events import glance_notifications
from tests.integration.oslo_support import notify_like, the_driver
from tests.integration.test_driver import _kafka_avro_notifier


def test_driver_reports_an_unreachable_kafka_once(caplog: pytest.LogCaptureFixture,
                                                   closed_address: str) -> None:
    offline = Settings(bootstrap_servers=closed_address)
    transport, notifier = _kafka_avro_notifier(offline)
    with caplog.at_level(logging.WARNING):  # Glance's default level
        for notification in glance_notifications()[:4]:
            notify_like(notifier, notification)
            time.sleep(0.5)
        publisher = the_driver(notifier).publisher()
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # librdkafka retries meanwhile
            publisher.poll(0.1)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
            and not r.name.startswith(("glance.", "oslo"))]
    assert len(said) == 1, said
    assert said[0].startswith(f"cannot reach Kafka at {offline.bootstrap_servers} (")
    assert said[0].endswith("retrying until it answers")
    publisher.producer.purge()
    transport.cleanup()
