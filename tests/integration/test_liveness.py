"""/healthz follows what keeps a process useful, not only that its HTTP thread answers.

Each test runs its own broker, so pausing it (SIGSTOP, by pid) wedges nobody else's test, and a
3 s liveness bound (GLANCE_KAFKA_LIVENESS_TIMEOUT_SECONDS) keeps the waits short.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from producers.broker import EmbeddedBroker, free_port
from producers.config import Settings
from producers.topics import ensure_topics
from tests.processes import ROOT, Worker, healthz_status, running_workers, wait_for

BOUND = "3"


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running



def _stays_healthy(ports: tuple[int, ...], seconds: float) -> None:
    """Idle for longer than the bound is not stuck."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert [healthz_status(port) for port in ports] == [200] * len(ports)
        time.sleep(0.5)


class _Bridge:
    """`glance-kafka bridge` as a subprocess, for wait_for's exit check."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.port = free_port()
        self.log_path = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "producers", "bridge", "--bootstrap-servers",
                 settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
                 "--source-topics", "notifications.info", "--group-id",
                 f"bridge-{uuid.uuid4().hex[:6]}", "--metrics-port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "GLANCE_KAFKA_LIVENESS_TIMEOUT_SECONDS": BOUND})

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def test_healthz_of_worker_and_bridge_follows_their_loops_and_the_brokers_answers(
        own_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both on one broker of their own, so one pause (and one outage) serves both."""
    settings = Settings(bootstrap_servers=own_broker.bootstrap_servers,
                        topic_prefix=f"t{uuid.uuid4().hex[:8]}.glance.")
    ensure_topics(settings, ["notifications.info"])
    wedge = tmp_path / "wedge"
    monkeypatch.setenv("GLANCE_KAFKA_LIVENESS_TIMEOUT_SECONDS", BOUND)
    monkeypatch.setenv("GLANCE_KAFKA_TEST_WEDGE_FILE", str(wedge))
    worker = Worker(settings, tmp_path)
    bridge = _Bridge(settings, tmp_path / "bridge.log")
    try:
        with running_workers(worker):
            worker.wait_ready(90)
            for port, alive in ((worker.metrics_port, worker), (bridge.port, bridge)):
                wait_for(lambda p=port: healthz_status(p) == 200, 60, "healthy", alive)
            _stays_healthy((worker.metrics_port, bridge.port), 4)

            own_broker.pause()
            try:
                for port, alive in ((worker.metrics_port, worker), (bridge.port, bridge)):
                    wait_for(lambda p=port: healthz_status(p) == 503, 30, "503, broker paused", alive)
            finally:
                own_broker.resume()
            for port, alive in ((worker.metrics_port, worker), (bridge.port, bridge)):
                wait_for(lambda p=port: healthz_status(p) == 200, 90, "200, broker back", alive)

            wedge.touch()  # the worker's event loop blocks (as a CPU-bound bug would)
            try:
                wait_for(lambda: healthz_status(worker.metrics_port) == 503, 30, "503, loop blocked",
                         worker)
                assert healthz_status(bridge.port) == 200  # not the bridge's loop
            finally:
                wedge.unlink()
            wait_for(lambda: healthz_status(worker.metrics_port) == 200, 30, "200, loop free", worker)

            # Kafka gone (connection refused from now on): one line says so in each log, and
            # the clients' reconnect attempts (several a second) add none.
            own_broker.stop()
            for log, alive in ((worker.log_path, worker), (bridge.log_path, bridge)):
                wait_for(lambda f=log: "cannot reach Kafka at" in f.read_text(errors="replace"),
                         30, "the outage line", alive)
            time.sleep(3)
            for log in (worker.log_path, bridge.log_path):
                after = log.read_text(errors="replace").split("cannot reach Kafka at", 1)[1]
                later = after.splitlines()[1:]
                assert [line for line in later if "ERROR" in line or "WARNING" in line
                        or "cannot reach" in line] == [], log
            worker.kill()  # its exit with Kafka gone is not what this test is about
            bridge.process.send_signal(signal.SIGTERM)
            assert bridge.process.wait(timeout=30) == 0, bridge.log_tail()
    finally:
        if bridge.process.poll() is None:
            bridge.process.kill()
            bridge.process.wait()
    for log in (worker.log_path, bridge.log_path):  # said once per change, not once per probe
        text = log.read_text(errors="replace")
        assert 1 <= text.count("unhealthy: no progress of") <= 4, log  # probed every 0.25 s
