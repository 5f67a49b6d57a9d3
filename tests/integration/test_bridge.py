"""The bridge: oslo.messaging's stock Kafka driver topics in, per-type Avro topics out, over a real broker."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import oslo_messaging
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from oslo_config import cfg
from oslo_context import context as oslo_context
from prometheus_client import CollectorRegistry

from producers.bridge import Bridge, BridgeOptions
from producers.broker import EmbeddedBroker
from producers.config import Settings
from producers.deadletter import DETAIL, ORIGIN, ORIGINAL_SHA256, ORIGINAL_SIZE, REASON, SOURCE, header_value
from producers.serde import AvroCodec
from producers.topics import ensure_topics, pipeline_topics
from tests.glance_events import PUBLISHER_ID, glance_notifications, seed_notifications
from tests.integration.oslo_support import (
    delivered_as_sent,
    event_shapes,
    notify_like,
    spy_on_drivers,
    topic_of,
)
from tests.kafka_helpers import all_pipeline_records, read_all
from tests.unit.test_codec import assert_same_notification

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ("forwarded", "skipped", "dead_lettered")


def _unique(settings: Settings) -> str:
    return settings.topic_prefix.split(".", 1)[0]


def _wire(notification: dict[str, Any]) -> bytes:
    """The oslo.messaging 2.0 wire envelope, as oslo's Kafka driver writes it."""
    return json.dumps({"oslo.version": "2.0",
                       "oslo.message": json.dumps({**notification, "_context": {}})}).encode()




class _BridgeThread:
    """Bridge.run() in a thread, with its exception (if any) kept for the test."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="bridge")

    def _run(self) -> None:
        try:
            self.bridge.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def counts(self) -> dict[str, float]:
        return {o: self.bridge.records.labels(o)._value.get() for o in OUTCOMES}

    def total(self) -> float:
        return sum(self.counts().values())

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.bridge.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "bridge.stop() did not stop the bridge"


def _wait_for(condition: Callable[[], bool], timeout: float, what: str,
              bridge: _BridgeThread) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert bridge.alive(), f"the bridge stopped before {what}: {bridge.error!r}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {bridge.counts()}"
        time.sleep(0.05)


def test_bridge_forwards_glance_events_from_oslo_kafka_driver_skips_others_dead_letters_broken(
        settings: Settings, broker: EmbeddedBroker) -> None:
    unique = _unique(settings)
    base = f"{unique}.notifications"
    info, warn, error = (f"{base}.{p}" for p in ("info", "warn", "error"))
    source = Settings(bootstrap_servers=broker.bootstrap_servers)

    # oslo.messaging's own Kafka driver, as a cloud already runs it: messagingv2 over kafka://.
    conf = cfg.ConfigOpts()
    transport = oslo_messaging.get_notification_transport(
        conf, url=f"kafka://{broker.bootstrap_servers}/")
    bridge = None
    try:
        notifier = oslo_messaging.Notifier(transport, publisher_id=PUBLISHER_ID,
                                           driver="messagingv2", topics=[base])
        sent = spy_on_drivers(notifier)
        ctxt = oslo_context.RequestContext(user_name="ctx-marker-user", request_id="req-ctx-marker",
                                           auth_token="ctx-marker-token")
        glance = glance_notifications()
        assert {n["priority"] for n in glance} == {"INFO", "ERROR"}
        for notification in glance:
            notify_like(notifier, notification, ctxt)
        notifier.prepare(publisher_id="compute.host1").info(
            ctxt, "compute.instance.create.end",
            {"instance_id": str(uuid.uuid4()), "state": "active", "image_ref_url": "http://g/x"})
        compute_id = sent[-1]["message_id"]
        assert transport._driver.pconn.producer.flush(15) == 0

        # Broken records on the same topic: not text, a Glance event of the wrong shape, and a
        # Glance event over the size limit (it used to stop the bridge at every restart).
        raw = Producer({"bootstrap.servers": broker.bootstrap_servers,
                        "message.max.bytes": 4_000_000})
        written: dict[bytes, str] = {}

        def remember(err: Any, msg: Any) -> None:
            assert err is None, err
            written[msg.value()] = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"

        not_text = b"\xff\xfe\x00 definitely not an oslo envelope"
        bad_send = {**next(n for n in glance if n["event_type"] == "image.send"),
                    "message_id": str(uuid.uuid4())}
        bad_send["payload"] = {**bad_send["payload"], "bytes_sent": "lots"}
        update = next(n for n in glance if n["event_type"] == "image.update")
        huge = {**update, "message_id": str(uuid.uuid4()),
                "payload": {**update["payload"], "properties": {"blob": "x" * 1_200_000}}}
        broken = {not_text: "not_utf8", _wire(bad_send): "wrong_type", _wire(huge): "oversized"}
        for value in broken:
            raw.produce(info, value, on_delivery=remember)
        assert raw.flush(15) == 0 and len(written) == len(broken)

        # The warn topic does not exist yet: oslo creates it with the first WARN, later.
        bridge = _BridgeThread(Bridge(settings, BridgeOptions(
            source_topics=(info, warn, error), group_id=f"{unique}-bridge"),
            registry=CollectorRegistry()))
        bridge.thread.start()
        first = len(sent) + len(broken)
        _wait_for(lambda: bridge.total() >= first, 30, "the first records", bridge)

        warns = [n for n in seed_notifications() if n["priority"].upper() == "WARN"]
        for notification in warns:
            notify_like(notifier, notification, ctxt)
        assert transport._driver.pconn.producer.flush(15) == 0
        _wait_for(lambda: bridge.total() >= first + len(warns), 30,
                  "the WARN records on a topic created after the bridge started", bridge)
        bridge.stop()
        assert bridge.error is None, repr(bridge.error)
    finally:
        if bridge is not None and bridge.alive():
            bridge.stop()
        transport.cleanup()

    # What oslo's driver wrote: every notification, in the wire envelope, on .info/.warn/.error.
    by_topic = {t: read_all(source, t) for t in (info, warn, error)}
    records_in = sum(len(m) for m in by_topic.values())
    assert records_in == len(sent) + len(broken)
    assert len(by_topic[warn]) == len(warns) and by_topic[error]
    envelope = json.loads(by_topic[warn][0].value())
    assert envelope["oslo.version"] == "2.0"
    assert json.loads(envelope["oslo.message"])["_context"]["request_id"] == "req-ctx-marker"

    glance_sent = {n["message_id"]: n for n in sent if n["publisher_id"].startswith("image.")}
    assert event_shapes(sent[:len(glance)]) == event_shapes(glance)
    counts = bridge.counts()
    assert counts == {"forwarded": len(glance_sent), "skipped": 1, "dead_lettered": len(broken)}
    assert sum(counts.values()) == records_in  # in = forwarded + skipped + dead-lettered

    records = all_pipeline_records(settings)
    seen = delivered_as_sent(settings, records, glance_sent)  # only Glance events we sent
    assert not [m for t, ms in records.items() for m in ms
                if b"ctx-marker" in m.value()]  # oslo's _context is not republished
    assert set(seen) == set(glance_sent) and max(seen.values()) == 1
    assert compute_id not in seen

    dead = records[settings.dlq_topic]
    assert len(dead) == len(broken)
    for message in dead:
        headers = message.headers()
        value = message.value()
        if header_value(headers, REASON) == "oversized":
            huge_bytes = _wire(huge)
            assert huge_bytes.startswith(value) and len(value) < len(huge_bytes)
            assert "truncated" in header_value(headers, DETAIL)
            assert int(header_value(headers, ORIGINAL_SIZE)) == len(huge_bytes)
            assert header_value(headers, ORIGINAL_SHA256) == hashlib.sha256(huge_bytes).hexdigest()
            value = huge_bytes
        assert header_value(headers, REASON) == broken[value]
        assert header_value(headers, ORIGIN) == written[value]
        assert header_value(headers, SOURCE) == "bridge"

    # Everything read is committed: a restart would not read any of it again.
    probe = Consumer({"bootstrap.servers": broker.bootstrap_servers,
                      "group.id": f"{unique}-bridge", "enable.auto.commit": "false"})
    try:
        ends = {(m.topic(), m.partition()): m.offset() + 1
                for messages in by_topic.values() for m in messages}
        committed = probe.committed([TopicPartition(t, p) for t, p in ends], timeout=10)
        assert {(tp.topic, tp.partition): tp.offset for tp in committed} == ends
    finally:
        probe.close()


# --------------------------------------------------------------------------- crash test

BACKLOG = 50_000
KILL_AFTER = 10_000


def _backlog(seed: int = 7) -> tuple[list[tuple[str, bytes]], dict[str, dict[str, Any]],
                                      set[str], set[str]]:
    """50,000 oslo wire envelopes: mostly Glance image.send/image.upload/task.*, ~8% another
    service's, 100 Glance events of a wrong shape. Returns (priority, value) pairs, the good
    Glance notifications by message_id, the bad ones' ids and the other service's ids."""
    rng = random.Random(seed)
    templates = [n for n in glance_notifications()
                 if n["event_type"] in ("image.send", "image.upload") or
                 n["event_type"].startswith("task.")]
    images = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(300)]
    out: list[tuple[str, bytes]] = []
    good: dict[str, dict[str, Any]] = {}
    bad: set[str] = set()
    others: set[str] = set()
    for i in range(BACKLOG):
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if i % 12 == 5:
            n = {"message_id": message_id, "publisher_id": f"compute.host{i % 7}",
                 "event_type": "compute.instance.create.end", "priority": "INFO",
                 "timestamp": "2025-03-01 10:00:00.000001",
                 "payload": {"instance_id": message_id, "image_ref": rng.choice(images)}}
            others.add(message_id)
        else:
            n = {**templates[i % len(templates)], "message_id": message_id}
            if isinstance(n["payload"], dict):
                payload = dict(n["payload"])
                payload["image_id" if n["event_type"] == "image.send" else "id"] = (
                    rng.choice(images))
                if i % 500 == 7 and n["event_type"] == "image.send":
                    payload["bytes_sent"] = "not a number"
                    bad.add(message_id)
                n["payload"] = payload
            if message_id not in bad:
                good[message_id] = n
        out.append((n["priority"].lower(), _wire(n)))
    return out, good, bad, others


class _Tally:
    """Reads the per-type and dead-letter topics as they fill, checking each record as it comes."""

    def __init__(self, settings: Settings, good: dict[str, dict[str, Any]]) -> None:
        self.settings = settings
        self.good = good
        self.codec = AvroCodec(settings)
        self.seen: Counter[str] = Counter()
        self.dead: dict[str, list[Any]] = {}
        self.timeline: list[tuple[float, int]] = []
        self.consumer = Consumer({
            **settings.librdkafka_config(), "group.id": f"tally-{uuid.uuid4()}",
            "enable.auto.commit": "false", "enable.partition.eof": "false"})
        topics = pipeline_topics(settings)
        metadata = self.consumer.list_topics(timeout=10).topics
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING)
                              for t in topics for p in metadata[t].partitions])

    @property
    def forwarded(self) -> int:
        return sum(self.seen.values())

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = self.consumer.consume(5000, timeout=0.1)
            for message in batch:
                assert message.error() is None, message.error()
                if message.topic() == self.settings.dlq_topic:
                    original = json.loads(json.loads(message.value())["oslo.message"])
                    self.dead.setdefault(original["message_id"], []).append(message)
                    continue
                got = self.codec.decode(message.value())
                sent = self.good[got["message_id"]]  # KeyError: not one of ours, or a bad one
                assert message.topic() == topic_of(self.settings, sent["event_type"])
                assert_same_notification(got, sent)  # duplicates too: same id, same values
                self.seen[got["message_id"]] += 1
            if batch:
                self.timeline.append((time.monotonic(), self.forwarded))

    def until(self, condition: Callable[[], bool], timeout: float, what: str,
              process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert process.poll() is None, f"the bridge exited ({process.returncode}) before {what}"
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}: {self.forwarded} forwarded, "
                f"{len(set(self.seen))} distinct of {len(self.good)}")
            self.drain(0.2)

    def rate_between(self, start: float, end: float) -> tuple[int, float]:
        points = [(t, n) for t, n in self.timeline if start <= t <= end]
        if len(points) < 2:
            return 0, 0.0
        return points[-1][1] - points[0][1], points[-1][0] - points[0][0]

    def close(self) -> None:
        self.consumer.close()


@pytest.mark.slow
def test_bridge_sigkilled_mid_backlog_then_restarted_loses_nothing(
        settings: Settings, broker: EmbeddedBroker, tmp_path: Path) -> None:
    unique = _unique(settings)
    sources = {p: f"{unique}.notifications.{p}" for p in ("info", "error")}
    backlog, good, bad, others = _backlog()

    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": "20",
                         "queue.buffering.max.messages": str(2 * BACKLOG)})
    started = time.monotonic()
    for priority, value in backlog:
        producer.produce(sources[priority], value)
    assert producer.flush(30) == 0
    produce_seconds = time.monotonic() - started
    ensure_topics(settings)  # so the tally can be assigned every partition up front

    command = [sys.executable, "-m", "producers", "bridge",
               "--bootstrap-servers", broker.bootstrap_servers,
               "--topic-prefix", settings.topic_prefix,
               "--source-topics", ",".join(sources.values()), "--group-id", f"{unique}-bridge"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes: list[subprocess.Popen[bytes]] = []

    def start_bridge(n: int) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"bridge-{n}.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       cwd=ROOT)
        processes.append(process)
        return process

    tally = _Tally(settings, good)
    try:
        first = start_bridge(1)
        first_started = time.monotonic()
        tally.until(lambda: tally.forwarded > KILL_AFTER, 30, f"{KILL_AFTER} forwarded records",
                    first)
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert first.wait(10) == -signal.SIGKILL
        tally.drain(0.3)
        at_kill = tally.forwarded
        assert at_kill < len(good), "the bridge finished before it could be killed"

        second = start_bridge(2)
        second_started = time.monotonic()
        good_ids = set(good)
        tally.until(lambda: tally.seen.keys() == good_ids and tally.dead.keys() >= bad, 45,
                    "every Glance event", second)
        done_at = time.monotonic()

        second.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        assert second.wait(10) == 0
        stop_seconds = time.monotonic() - asked
        tally.drain(1.0)  # anything the second bridge produced after the last check
    finally:
        tally.close()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    logs = "".join((tmp_path / f"bridge-{n}.log").read_text(errors="replace") for n in (1, 2))
    assert "Traceback" not in logs, logs[-3000:]
    assert stop_seconds < 5

    # At-least-once: every good Glance event on its topic (values checked as they were read),
    # the bad ones in the dead-letter topic with reason and origin, none of the other service's.
    assert set(tally.seen) == set(good)
    assert set(tally.dead) == bad
    for messages in tally.dead.values():
        for message in messages:
            assert header_value(message.headers(), REASON) == "wrong_type"
            topic, partition, offset = header_value(message.headers(), ORIGIN).rsplit("/", 2)
            # read from the topic of its priority (a partial image.send is sent at ERROR)
            priority = json.loads(json.loads(message.value())["oslo.message"])["priority"]
            assert topic == sources[priority.lower()] and int(partition) >= 0 and int(offset) >= 0
    assert not others & set(tally.seen)
    duplicates = tally.forwarded - len(good)

    run1 = tally.rate_between(first_started, killed_at)
    run2 = tally.rate_between(second_started, done_at)
    first_output = next(t for t, n in tally.timeline if n > at_kill) - second_started
    report = (f"backlog {BACKLOG} produced in {produce_seconds:.2f}s; "
              f"run 1 forwarded {run1[0]} in {run1[1]:.2f}s ({run1[0] / max(run1[1], 1e-9):.0f}/s); "
              f"killed at {at_kill}; restart to first new record {first_output:.1f}s; "
              f"run 2 forwarded {run2[0]} in {run2[1]:.2f}s ({run2[0] / max(run2[1], 1e-9):.0f}/s); "
              f"duplicates {duplicates}; SIGTERM to exit {stop_seconds:.2f}s")
    print(report)
    (tmp_path / "throughput.txt").write_text(report + "\n")
