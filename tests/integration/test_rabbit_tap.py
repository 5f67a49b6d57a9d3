"""The RabbitMQ tap against a real RabbitMQ node and the embedded Kafka broker.

Messages are sent the way Glance sends them: oslo.messaging's Notifier, driver messagingv2, over
the rabbit transport, control exchange `glance`, publisher_id image.<host>. Each test uses topics
and a pool no other test uses, on the session's RabbitMQ node.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from producers.broker import EmbeddedBroker, free_port
from producers.config import Settings
from producers.deadletter import ORIGIN, REASON, SOURCE, header_value
from producers.rabbit import RabbitTap, TapOptions
from producers.topics import ensure_topics
from tests.glance_events import glance_notifications
from tests.integration.oslo_support import delivered_as_sent
from tests.integration.test_stream_exactness import synthetic_events
from tests.kafka_helpers import all_pipeline_records
from tests.processes import ROOT, healthz_status, parse_metrics, total, wait_for
from tests.rabbitmq import GLANCE_PUBLISHER, BareListener, GlanceLikeNotifier, RabbitMQ


class TapThread:
    """RabbitTap.run() in a thread of the test, with its exception kept."""

    def __init__(self, settings: Settings, options: TapOptions) -> None:
        self.registry = CollectorRegistry()
        self.tap = RabbitTap(settings, options, registry=self.registry)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="tap")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.tap.run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def wait_listening(self) -> None:
        wait_for(lambda: self.tap.listening or not self.thread.is_alive(), 60, "the tap to listen")
        assert self.tap.listening, repr(self.error)

    def stop(self) -> None:
        self.tap.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "stop() did not stop the tap"


def _unique() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def _tap_command(settings: Settings, url: str, topic: str, pool: str, metrics_port: int,
                 *extra: str) -> list[str]:
    return [sys.executable, "-m", "producers", "bridge", "--transport-url", url,
            "--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix",
            settings.topic_prefix, "--topics", topic, "--pool", pool,
            "--metrics-port", str(metrics_port), "--connect-timeout", "60", *extra]


def _metric(port: int, name: str, **labels: str) -> float:
    """One value of the tap's /metrics (summed over the samples with `labels`); 0 if it does
    not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return total(parse_metrics(response.read().decode()), name, **labels)
    except OSError:
        return 0.0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Subprocesses a test starts; any still running at the end are killed, by pid."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start(command: list[str], log: Path, processes: list[subprocess.Popen[bytes]]
           ) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    processes.append(process)
    return process


def _until(condition: Callable[[], Any], timeout: float, what: str,
           process: subprocess.Popen[bytes], log: Path) -> Any:
    def check() -> Any:
        if process.poll() is not None:
            raise AssertionError(f"the tap exited ({process.returncode}) waiting for {what}:\n"
                                 + log.read_text(errors="replace")[-3000:])
        return condition()

    return wait_for(check, timeout, what)


# --------------------------------------------------------------------------- forwarding


def test_tap_forwards_glance_events_skips_others_and_shares_the_exchange_with_ceilometer(
        rabbitmq: RabbitMQ, settings: Settings) -> None:
    topic, pool = f"{_unique()}.notifications", _unique()
    url = rabbitmq.transport_url
    ensure_topics(settings)
    tap = TapThread(settings, TapOptions(transport_url=url, topics=(topic,), pool=pool,
                                         batch_timeout=0.2))
    ceilometer = notifier = None
    try:
        tap.wait_listening()
        ceilometer = BareListener(url, topic)  # the default queues, beside the tap's pool
        notifier = GlanceLikeNotifier(url, [topic])
        glance = glance_notifications()
        for notification in glance:
            notifier.send(notification)
        notifier.notifier.prepare(publisher_id="compute.host1").info(
            {}, "compute.instance.create.end", {"instance_id": str(uuid.uuid4())})
        bad_send = copy.deepcopy(next(n for n in glance if n["event_type"] == "image.send"))
        bad_send["payload"]["bytes_sent"] = "lots"  # a Glance event of the wrong shape
        notifier.send(bad_send)
        sent = notifier.sent
        ids = [m["message_id"] for m in sent]
        wait_for(lambda: tap.value("glance_bridge_acked_total") >= len(sent), 60,
                 "the tap to acknowledge everything sent")
        wait_for(lambda: set(ceilometer.seen) >= set(ids), 30,
                 "the listener on the default queues to see everything sent")
        queues = rabbitmq.list_queues()
        tap.stop()
        assert tap.error is None, repr(tap.error)
    finally:
        for part in (ceilometer, notifier):
            if part is not None:
                part.close()
        if tap.thread.is_alive():
            tap.stop()

    # Both the tap's pool and the default queues got every message, once each.
    assert ceilometer.seen == Counter(ids)
    assert queues[pool] == 0 and all(queues[f"{topic}.{p}"] == 0 for p in ("info", "error"))

    compute_id, bad_id = ids[-2], ids[-1]
    glance_sent = {m["message_id"]: m for m in sent[:-2]}
    records = all_pipeline_records(settings)
    seen = delivered_as_sent(settings, records, glance_sent)  # per-type topics, values as sent
    assert seen == Counter(list(glance_sent))  # each Glance event once, by its message_id
    assert compute_id not in seen and bad_id not in seen
    (dead,) = records[settings.dlq_topic]
    assert header_value(dead.headers(), REASON) == "wrong_type"
    assert header_value(dead.headers(), SOURCE) == "rabbit-tap"
    assert header_value(dead.headers(), ORIGIN) == "rabbit:glance/info"
    assert bad_id.encode() in dead.value()

    counts = {o: tap.value("glance_bridge_records_total", outcome=o)
              for o in ("forwarded", "skipped", "dead_lettered")}
    assert counts == {"forwarded": len(glance_sent), "skipped": 1, "dead_lettered": 1}
    assert tap.value("glance_bridge_consumed_total") == len(sent)
    assert tap.value("glance_bridge_acked_total") == len(sent)
    assert tap.value("glance_bridge_requeued_total") == 0
    assert tap.value("glance_bridge_in_flight") == 0


# --------------------------------------------------------------------------- outages


@pytest.mark.slow
def test_kafka_away_for_30s_while_messages_keep_arriving_loses_none(
        rabbitmq: RabbitMQ, tmp_path: Path, running: list[subprocess.Popen[bytes]]) -> None:
    topic, pool = f"{_unique()}.notifications", _unique()
    with EmbeddedBroker() as kafka:
        settings = Settings(bootstrap_servers=kafka.bootstrap_servers,
                            topic_prefix=f"{_unique()}.glance.")
        ensure_topics(settings)
        port, log = free_port(), tmp_path / "tap.log"
        tap = _start(_tap_command(settings, rabbitmq.transport_url, topic, pool, port,
                                  "--batch-size", "200"), log, running)
        _until(lambda: _ready(port), 60, "the tap to be ready", tap, log)
        notifier = GlanceLikeNotifier(rabbitmq.transport_url, [topic])
        events = synthetic_events(4000, seed=14)
        depth_during: list[int] = []
        try:
            def send(part: list[dict[str, Any]], seconds: float) -> None:
                started = time.monotonic()
                for i, n in enumerate(part):
                    notifier.send(n)
                    ahead = (i + 1) * seconds / len(part) - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)

            send(events[:500], 4)
            _until(lambda: _metric(port, "glance_bridge_acked_total") >= 500, 30,
                   "the first messages acknowledged", tap, log)
            kafka.pause()
            try:
                # 30 s without Kafka; messages keep coming and wait in RabbitMQ.
                paused_at = time.monotonic()
                for step in range(3):
                    send(events[500 + step * 1000:1500 + step * 1000], 8)
                    depth_during.append(rabbitmq.list_queues()[pool])
                wait_for(lambda: time.monotonic() - paused_at >= 30, 40, "30 s of outage")
                held = _metric(port, "glance_bridge_acked_total")
            finally:
                kafka.resume()
            send(events[3500:], 2)
            expected = len(notifier.sent)
            _until(lambda: _metric(port, "glance_bridge_acked_total") >= expected, 120,
                   "everything acknowledged after Kafka came back", tap, log)
            forwarded = _metric(port, "glance_bridge_records_total", outcome="forwarded")
            in_flight = _metric(port, "glance_bridge_in_flight")
            tap.send_signal(signal.SIGTERM)
            assert tap.wait(30) == 0
        finally:
            notifier.close()
        ids = {m["message_id"]: m for m in notifier.sent}
        records = all_pipeline_records(settings)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]

    # Held in RabbitMQ, not acknowledged, while Kafka was away; none lost once it was back.
    assert depth_during[0] > 0 and depth_during == sorted(depth_during), depth_during
    assert held < 500 + 3000
    seen = delivered_as_sent(settings, records, ids)
    assert set(seen) == set(ids)
    assert forwarded >= len(ids) and in_flight == 0


@pytest.mark.slow
def test_tap_sigkilled_mid_backlog_of_20000_then_restarted_loses_nothing(
        rabbitmq: RabbitMQ, settings: Settings, tmp_path: Path,
        running: list[subprocess.Popen[bytes]]) -> None:
    topic, pool = f"{_unique()}.notifications", _unique()
    url = rabbitmq.transport_url
    ensure_topics(settings)
    logs = [tmp_path / "tap-1.log", tmp_path / "tap-2.log"]
    port = free_port()
    first = _start(_tap_command(settings, url, topic, pool, port), logs[0], running)
    _until(lambda: _ready(port), 60, "the tap to be ready", first, logs[0])

    # A backlog of 20,000 building up from busy glance-api workers while the tap drains it.
    notifier = GlanceLikeNotifier(url, [topic])
    events = [{**n, "publisher_id": GLANCE_PUBLISHER} for n in synthetic_events(20_000, seed=20)]
    sender = threading.Thread(target=notifier.send_many, args=(events,), daemon=True)
    sender.start()
    try:
        _until(lambda: _metric(port, "glance_bridge_acked_total") >= 4000, 90,
               "4000 messages acknowledged", first, logs[0])
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        left = rabbitmq.list_queues()[pool]  # unacknowledged messages went back to the queue
        sender.join(120)
        assert not sender.is_alive()
    finally:
        notifier.close()
    sent = {m["message_id"]: m for m in notifier.sent}
    assert len(sent) == 20_000 and 0 < left < 20_000 - 4000 + 1

    port = free_port()
    second = _start(_tap_command(settings, url, topic, pool, port), logs[1], running)
    # The queue's count includes unacknowledged messages: 0 means all acknowledged.
    _until(lambda: rabbitmq.list_queues()[pool] == 0, 120, "the rest of the backlog acknowledged",
           second, logs[1])
    assert _metric(port, "glance_bridge_acked_total") >= left
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
    for log in logs:
        assert "Traceback" not in log.read_text(errors="replace")

    records = all_pipeline_records(settings)
    seen = delivered_as_sent(settings, records, sent)  # duplicates carry their message_id
    assert set(seen) == set(sent)
    assert sum(seen.values()) >= len(sent) and not records[settings.dlq_topic]


# --------------------------------------------------------------------------- start errors


def test_unreachable_rabbitmq_bad_credentials_and_unknown_vhost_are_one_line_errors(
        rabbitmq: RabbitMQ, settings: Settings, closed_address: str) -> None:
    cases = {
        "unreachable": (f"rabbit://guest:s3cret-a@{closed_address}/",
                        ["cannot reach RabbitMQ", "Connection refused"]),
        "credentials": (rabbitmq.url(password="s3cret-b"), ["ACCESS_REFUSED"]),
        "vhost": (rabbitmq.url(vhost="no-such-vhost"), ["no-such-vhost", "not found"]),
        # Glance set [oslo_messaging_rabbit] amqp_durable_queues = true; the tap did not.
        "durability": (_durable_glance_vhost(rabbitmq), ["PRECONDITION_FAILED", "durable"]),
    }

    def run(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "producers", "bridge", "--transport-url", url,
             "--bootstrap-servers", settings.bootstrap_servers, "--connect-timeout", "3"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})

    with ThreadPoolExecutor(len(cases)) as pool:
        results = dict(zip(cases, pool.map(run, [url for url, _ in cases.values()]), strict=True))
    for name, result in results.items():
        url, words = cases[name]
        lines = result.stderr.strip().splitlines()
        # producers/exceptions.py EXIT_CODES: 4 unreachable, 5 refused login, 2 configuration
        expected = {"unreachable": 4, "credentials": 5, "vhost": 2, "durability": 2}[name]
        assert result.returncode == expected, (name, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("glance-kafka bridge: error: "), (
            name, result.stderr)
        assert all(w in lines[0] for w in words), (name, lines[0])
        assert "s3cret" not in result.stderr + result.stdout  # the password never shows


def _durable_glance_vhost(rabbitmq: RabbitMQ) -> str:
    """A vhost where Glance runs with amqp_durable_queues = true: its `glance` exchange is durable."""
    vhost = _unique()
    rabbitmq.add_vhost(vhost)
    url = rabbitmq.url(vhost=vhost)
    notifier = GlanceLikeNotifier(url, ["notifications"],
                                  rabbit_options={"amqp_durable_queues": True})
    try:
        notifier.send({"publisher_id": GLANCE_PUBLISHER, "event_type": "image.update",
                       "priority": "INFO", "payload": {"id": str(uuid.uuid4())}})
    finally:
        notifier.close()
    return url


def test_config_file_sets_oslo_messaging_rabbit_options(
        rabbitmq: RabbitMQ, settings: Settings, tmp_path: Path) -> None:
    """[oslo_messaging_rabbit] from --config-file: here the durability Glance's exchange has."""
    url = _durable_glance_vhost(rabbitmq)
    config = tmp_path / "glance-kafka.conf"
    config.write_text("[oslo_messaging_rabbit]\namqp_durable_queues = true\n")
    tap = TapThread(settings, TapOptions(transport_url=url, pool=_unique(), config_file=str(config),
                                         connect_timeout=30))
    tap.wait_listening()
    tap.stop()
    assert tap.error is None, repr(tap.error)


@pytest.mark.slow
def test_stop_while_kafka_is_away_requeues_the_batch_it_holds(rabbitmq: RabbitMQ) -> None:
    """SIGTERM mid-delivery: the batch waits drain_timeout for Kafka, then goes back to
    RabbitMQ unacknowledged (a restarted tap gets it again, as after a SIGKILL), and the stop
    takes a bounded time."""
    topic, pool = f"{_unique()}.notifications", _unique()
    url = rabbitmq.transport_url
    events = synthetic_events(50, seed=5)
    with EmbeddedBroker() as kafka:
        settings = Settings(bootstrap_servers=kafka.bootstrap_servers,
                            topic_prefix=f"{_unique()}.glance.")
        ensure_topics(settings)
        tap = TapThread(settings, TapOptions(transport_url=url, topics=(topic,), pool=pool,
                                             batch_timeout=0.2, drain_timeout=1.0))
        tap.wait_listening()
        notifier = GlanceLikeNotifier(url, [topic])
        kafka.pause()
        try:
            for n in events:
                notifier.send(n)
            # One batch waits for Kafka; the rest wait behind it (one batch at a time).
            wait_for(lambda: tap.value("glance_bridge_in_flight") > 0, 30,
                     "a batch waiting for Kafka")
            assert rabbitmq.list_queues()[pool] == len(events)  # none acknowledged
            asked = time.monotonic()
            tap.stop()
            stopped_in = time.monotonic() - asked
        finally:
            kafka.resume()
            notifier.close()
    assert tap.error is None, repr(tap.error)
    assert stopped_in < 15
    assert tap.value("glance_bridge_acked_total") == 0
    assert tap.value("glance_bridge_requeued_total") == len(events)
    assert tap.value("glance_bridge_in_flight") == 0
    assert rabbitmq.list_queues()[pool] == len(events)  # back in RabbitMQ, ready for the next tap



def test_healthz_is_503_while_a_batch_waits_on_a_paused_kafka_and_200_once_delivered(
        rabbitmq: RabbitMQ, tmp_path: Path, running: list[subprocess.Popen[bytes]]) -> None:
    """Idle past the bound is healthy; a batch held past it (Kafka SIGSTOPped while messages
    arrive) is not; delivered after SIGCONT, healthy again. A 3 s bound keeps it short."""
    bound = 3.0
    topic, pool = f"{_unique()}.notifications", _unique()
    events = synthetic_events(20, seed=17)
    with EmbeddedBroker() as kafka:
        settings = Settings(bootstrap_servers=kafka.bootstrap_servers,
                            topic_prefix=f"{_unique()}.glance.")
        ensure_topics(settings)
        port, log = free_port(), tmp_path / "tap.log"
        command = _tap_command(settings, rabbitmq.transport_url, topic, pool, port,
                               "--batch-timeout", "0.2")
        with open(log, "ab") as out:
            tap = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT),
                                        "GLANCE_KAFKA_LIVENESS_TIMEOUT_SECONDS": str(bound)})
        running.append(tap)
        _until(lambda: _ready(port), 60, "the tap to be ready", tap, log)
        notifier = GlanceLikeNotifier(rabbitmq.transport_url, [topic])
        try:
            idle_until = time.monotonic() + bound + 1
            while time.monotonic() < idle_until:  # nothing held: idle is not stuck
                assert healthz_status(port) == 200
                time.sleep(0.5)
            kafka.pause()
            try:
                for n in events:
                    notifier.send(n)
                _until(lambda: _metric(port, "glance_bridge_in_flight") > 0, 10,
                       "a batch waiting for Kafka", tap, log)
                held_at = time.monotonic()
                _until(lambda: healthz_status(port) == 503, bound + 5, "503, batch held", tap, log)
                assert time.monotonic() - held_at > bound - 1  # not before the bound
                assert _metric(port, "glance_bridge_acked_total") == 0
            finally:
                kafka.resume()
            _until(lambda: healthz_status(port) == 200, 30, "200, batch delivered", tap, log)
            _until(lambda: _metric(port, "glance_bridge_acked_total") >= len(events), 30,
                   "everything acknowledged", tap, log)
            tap.send_signal(signal.SIGTERM)
            assert tap.wait(30) == 0
        finally:
            notifier.close()
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]
    assert output.count("unhealthy: no progress of delivery") == 1, output[-3000:]
    assert output.count("healthy again") == 1, output[-3000:]


def test_cluster_url_with_a_node_down_still_listens_and_forwards(
        rabbitmq: RabbitMQ, settings: Settings, closed_address: str) -> None:
    """`rabbit://u:p@h1:5672,u:p@h2:5672/`: oslo.messaging fails over to a node that answers."""
    down = closed_address.rsplit(":", 1)[1]
    url = f"rabbit://guest:guest@127.0.0.1:{down},guest:guest@127.0.0.1:{rabbitmq.port}/"
    topic = f"{_unique()}.notifications"
    ensure_topics(settings)
    tap = TapThread(settings, TapOptions(transport_url=url, topics=(topic,), pool=_unique(),
                                         batch_timeout=0.2, connect_timeout=60))
    notifier = None
    try:
        tap.wait_listening()
        assert tap.tap.where == (f"rabbit://guest@127.0.0.1:{down},"
                                 f"guest@127.0.0.1:{rabbitmq.port}/")  # no password
        notifier = GlanceLikeNotifier(rabbitmq.transport_url, [topic])
        (event,) = synthetic_events(1, seed=2)
        notifier.send(event)
        wait_for(lambda: tap.value("glance_bridge_acked_total") == 1, 30, "the message acked")
    finally:
        if notifier is not None:
            notifier.close()
        tap.stop()
    sent = {m["message_id"]: m for m in notifier.sent}
    assert delivered_as_sent(settings, all_pipeline_records(settings), sent) == Counter(list(sent))
