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
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from producers.broker import EmbeddedBroker, free_port
from producers.config import Settings
from producers.topics import ensure_topics
from tests.processes import ROOT, Worker, running_workers, wait_for

BOUND = "3"


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def _status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _stays_healthy(port: int, seconds: float) -> None:
    """Idle for longer than the bound is not stuck."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert _status(port) == 200
        time.sleep(0.5)


def _paused_then_resumed(broker: EmbeddedBroker, port: int, alive: object) -> None:
    broker.pause()
    try:
        wait_for(lambda: _status(port) == 503, 30, "503 with the broker paused", alive)
    finally:
        broker.resume()
    wait_for(lambda: _status(port) == 200, 90, "200 once the broker answers again", alive)


def _outage_said_once(broker: EmbeddedBroker, log: Path, alive: object) -> None:
    """Kafka gone (connection refused from now on): one line says so, and its client's
    reconnect attempts (several a second) add none."""
    broker.stop()
    wait_for(lambda: "cannot reach Kafka at" in log.read_text(errors="replace"), 30,
             "the outage line", alive)
    time.sleep(3)
    after = log.read_text(errors="replace").split("cannot reach Kafka at", 1)[1].splitlines()[1:]
    assert "cannot reach Kafka at" not in "\n".join(after)
    assert [line for line in after if "ERROR" in line or "WARNING" in line] == []


def test_worker_healthz_follows_its_event_loop_and_the_brokers_answers(
        own_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(bootstrap_servers=own_broker.bootstrap_servers,
                        topic_prefix=f"t{uuid.uuid4().hex[:8]}.glance.")
    wedge = tmp_path / "wedge"
    monkeypatch.setenv("GLANCE_KAFKA_LIVENESS_TIMEOUT_SECONDS", BOUND)
    monkeypatch.setenv("GLANCE_KAFKA_TEST_WEDGE_FILE", str(wedge))
    worker = Worker(settings, tmp_path)
    with running_workers(worker):
        worker.wait_ready(90)
        wait_for(lambda: _status(worker.metrics_port) == 200, 30, "healthy", worker)
        _stays_healthy(worker.metrics_port, 4)

        _paused_then_resumed(own_broker, worker.metrics_port, worker)

        wedge.touch()  # the event loop blocks (as a CPU-bound bug would)
        try:
            wait_for(lambda: _status(worker.metrics_port) == 503, 30, "503, loop blocked", worker)
        finally:
            wedge.unlink()
        wait_for(lambda: _status(worker.metrics_port) == 200, 30, "200, loop free", worker)

        _outage_said_once(own_broker, worker.log_path, worker)
        worker.kill()  # its exit with Kafka gone is not what this test is about


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


def test_bridge_healthz_follows_its_loop_and_the_brokers_answers(
        own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = Settings(bootstrap_servers=own_broker.bootstrap_servers,
                        topic_prefix=f"t{uuid.uuid4().hex[:8]}.glance.")
    ensure_topics(settings, ["notifications.info"])
    bridge = _Bridge(settings, tmp_path / "bridge.log")
    try:
        wait_for(lambda: _status(bridge.port) == 200, 60, "bridge healthy", bridge)
        _stays_healthy(bridge.port, 4)
        _paused_then_resumed(own_broker, bridge.port, bridge)
        _outage_said_once(own_broker, bridge.log_path, bridge)
        bridge.process.send_signal(signal.SIGTERM)
        assert bridge.process.wait(timeout=30) == 0, bridge.log_tail()
    finally:
        if bridge.process.poll() is None:
            bridge.process.kill()
            bridge.process.wait()
    log = bridge.log_tail()
    assert log.count("unhealthy: no progress of") == 1, log  # said once, not once per probe
