"""A stream worker stops inside Kubernetes' 30 s grace period, also with Kafka unreachable."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from producers.broker import EmbeddedBroker
from producers.config import Settings
from producers.publisher import Publisher
from streams.worker import STOP_TIMEOUT
from tests.integration.test_stream_exactness import synthetic_events
from tests.processes import Worker, total, wait_for


@pytest.mark.slow
def test_worker_with_kafka_unreachable_exits_within_the_grace_period_after_sigterm(
        tmp_path: Path) -> None:
    with EmbeddedBroker() as broker:
        settings = Settings(bootstrap_servers=broker.bootstrap_servers,
                            topic_prefix=f"s{uuid.uuid4().hex[:6]}.glance.")
        with Publisher(settings) as publisher:
            for n in synthetic_events(500, seed=3):
                publisher.publish(n)
        worker = Worker(settings, tmp_path).start()
        try:
            worker.wait_ready()
            wait_for(lambda: total(worker.metrics(), "glance_notifications_total") >= 500, 60,
                     "the events processed", worker)
            broker.pause()  # Kafka answers nothing from here on
            started = time.monotonic()
            os.kill(worker.process.pid, signal.SIGTERM)
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running 30 s after SIGTERM:\n{worker.log_tail()}")
            elapsed = time.monotonic() - started
            assert elapsed < STOP_TIMEOUT + 5 < 30, elapsed
        finally:
            broker.resume()
            worker.stop()
