"""The oslo.messaging driver `kafka-avro`, loaded by oslo.messaging (and by Glance) over a real broker."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import oslo_messaging
import pytest
from oslo_config import cfg

from producers.config import Settings
from producers.deadletter import DETAIL, ORIGIN, ORIGINAL_SIZE, REASON, SOURCE, header_value
from producers.driver import GROUP, OPTS, AvroKafkaDriver
from producers.serde import AvroCodec
from tests.glance_events import (
    PUBLISHER_ID,
    emit_glance_events,
    glance_notifications,
    glance_notifier_with_driver,
    seed_notifications,
)
from tests.integration.oslo_support import (
    delivered_as_sent,
    event_shapes,
    notify_like,
    spy_on_drivers,
    the_driver,
)
from tests.kafka_helpers import all_pipeline_records
from tests.unit.test_codec import assert_same_notification

ROOT = Path(__file__).resolve().parents[2]


def _kafka_avro_notifier(settings: Settings, **options: Any) -> tuple[Any, Any]:
    """A real oslo_messaging.Notifier with driver kafka-avro, on a private ConfigOpts."""
    conf = cfg.ConfigOpts()
    transport = oslo_messaging.get_notification_transport(conf, url="fake:")
    conf.register_opts(OPTS, group=GROUP)  # the driver registers them too; overrides need them now
    for name, value in {"bootstrap_servers": settings.bootstrap_servers,
                        "topic_prefix": settings.topic_prefix, **options}.items():
        conf.set_override(name, value, group=GROUP)
    notifier = oslo_messaging.Notifier(transport, publisher_id=PUBLISHER_ID, driver="kafka-avro",
                                       topics=["notifications"])
    return transport, notifier


def _check_published(settings: Settings, sent: dict[str, dict[str, Any]],
                     dead: set[str] = frozenset()) -> dict[str, list[Any]]:
    """Every sent message is on its per-type topic with the values sent, except the `dead` ones,
    which are on the dead-letter topic; nothing else anywhere. Returns the records by topic."""
    records = all_pipeline_records(settings)
    seen = delivered_as_sent(settings, records, sent)
    assert set(seen) == set(sent) - set(dead)
    assert max(seen.values()) == 1  # the driver does not duplicate
    dlq_ids = {json.loads(m.value())["message_id"] for m in records[settings.dlq_topic]}
    assert dlq_ids == set(dead)
    return records


def test_oslo_notifier_info_warn_error_reach_their_topics_and_bad_ones_the_dlq(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    transport, notifier = _kafka_avro_notifier(settings)
    try:
        driver = the_driver(notifier)
        assert isinstance(driver, AvroKafkaDriver)
        sent = spy_on_drivers(notifier)
        glance = glance_notifications()
        # Glance sends no WARN on its own; the docs' shapes have some (text payloads).
        warns = [n for n in seed_notifications() if n["priority"].upper() == "WARN"]
        assert warns
        ctxt = {"auth_token": "gAAAA-secret-token", "user": "u1", "project_id": "p1"}
        for notification in glance + warns:
            notify_like(notifier, notification, ctxt)
        assert Counter(n["priority"] for n in sent) == Counter(
            n["priority"].upper() for n in glance + warns)
        assert {"INFO", "WARN", "ERROR"} <= {n["priority"] for n in sent}

        good = len(sent)
        bad_send = {"image_id": "6f4f0a1e-3c5b-4e0d-9a57-1b2c3d4e5f60", "owner_id": "o",
                    "receiver_tenant_id": "r", "receiver_user_id": "u", "bytes_sent": "x"}
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            # Neither call may raise into Glance: a bad payload type for image.send, and a
            # payload that is not JSON at all (a datetime) for a catch-all type.
            notifier.info(ctxt, "image.send", bad_send)
            notifier.error(ctxt, "image.cache.prune", {"at": datetime.datetime(2025, 1, 2, 3, 4, 5)})
        assert len(sent) == good + 2
        bad_ids = {sent[-2]["message_id"]: "wrong_type", sent[-1]["message_id"]: "wrong_type"}
        warned = [r for r in caplog.records if r.name == "producers.driver"]
        assert [r.levelname for r in warned] == ["WARNING", "WARNING"]
        assert all("dead-lettered" in r.getMessage() for r in warned)
        # oslo.messaging logs "Problem ... attempting to send" when a driver raises: it did not.
        assert not [r for r in caplog.records if r.name.startswith("oslo_messaging")]

        driver.flush(20)
        stats = driver.publisher().stats
        assert stats.delivered == good + 2 and stats.failed == 0 and stats.dead_lettered == 2
    finally:
        transport.cleanup()

    by_id = {n["message_id"]: n for n in sent}
    assert len(by_id) == len(sent)
    records = _check_published(settings, by_id, dead=set(bad_ids))

    # What was sent is what Glance's scenario sends (the same events, payloads and priorities).
    assert event_shapes(sent[:len(glance)]) == event_shapes(glance)

    dead = records[settings.dlq_topic]
    for message in dead:
        original = json.loads(message.value())
        headers = message.headers()
        assert header_value(headers, REASON) == bad_ids[original["message_id"]]
        assert header_value(headers, SOURCE) == "oslo-driver"
        assert header_value(headers, ORIGIN) is None  # not read from Kafka
        assert original["event_type"] in ("image.send", "image.cache.prune")
    send_dead = next(m for m in dead if json.loads(m.value())["event_type"] == "image.send")
    assert "bytes_sent" in header_value(send_dead.headers(), DETAIL)
    assert json.loads(send_dead.value())["payload"] == bad_send

    # The request context (with its token) never leaves Glance through this driver.
    for messages in records.values():
        for message in messages:
            assert b"secret-token" not in message.value()


def test_glance_notifier_configured_with_kafka_avro_publishes_every_event(
        settings: Settings) -> None:
    overrides = {"glance_kafka.bootstrap_servers": settings.bootstrap_servers,
                 "glance_kafka.topic_prefix": settings.topic_prefix}
    with glance_notifier_with_driver("kafka-avro", overrides) as notifier:
        sent = spy_on_drivers(notifier._notifier)
        emit_glance_events(notifier)
        driver = the_driver(notifier._notifier)
        assert isinstance(driver, AvroKafkaDriver)
        driver.flush(20)
        assert driver.publisher().stats.dead_lettered == 0

    reference = glance_notifications()
    assert len(sent) == len(reference)
    assert {n["publisher_id"] for n in sent} == {PUBLISHER_ID}
    # The same scenario, so the same events -- up to datetimes and tag order (a set in Glance).
    assert event_shapes(sent) == event_shapes(reference)
    # And each one arrived exactly as oslo.messaging handed it to the driver.
    _check_published(settings, {n["message_id"]: n for n in sent})


_FORK_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import oslo_messaging
    from oslo_config import cfg
    from producers.driver import GROUP, OPTS

    bootstrap, prefix, child_sends = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    conf = cfg.ConfigOpts()
    transport = oslo_messaging.get_notification_transport(conf, url="fake:")
    conf.register_opts(OPTS, group=GROUP)
    conf.set_override("bootstrap_servers", bootstrap, group=GROUP)
    conf.set_override("topic_prefix", prefix, group=GROUP)
    # Keep the parent's notification in the producer's queue while the process forks.
    conf.set_override("librdkafka", {"linger.ms": "3000"}, group=GROUP)
    conf.set_override("flush_timeout", 20.0, group=GROUP)
    notifier = oslo_messaging.Notifier(transport, publisher_id="image.localhost",
                                       driver="kafka-avro", topics=["notifications"])

    def send(who):
        notifier.info({}, "image.send", {"image_id": who, "owner_id": "o", "bytes_sent": 1,
                                         "receiver_tenant_id": "r", "receiver_user_id": "u"})

    send("parent")
    pid = os.fork()
    if pid == 0:  # a Glance API worker: notifies, then exits normally (atexit runs)
        if child_sends:
            send("child")
        sys.exit(0)
    started = time.monotonic()
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), round(time.monotonic() - started, 2), flush=True)
""")


@pytest.mark.parametrize("child_sends", [True, False], ids=["child-sends", "child-silent"])
def test_forked_worker_publishes_with_its_own_producer_and_exits_promptly(
        settings: Settings, tmp_path: Path, child_sends: bool) -> None:
    script = tmp_path / "fork_driver.py"
    script.write_text(_FORK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    # Its own session, so the forked child (which used to hang) can be killed with the parent.
    process = subprocess.Popen(
        [sys.executable, str(script), settings.bootstrap_servers, settings.topic_prefix,
         "1" if child_sends else "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=ROOT, start_new_session=True)
    try:
        out, err = process.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        out, err = b"", b"timed out: the forked worker did not exit"
    finally:
        if process.poll() is None or not out:  # still running, or it never reaped its child
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
    assert process.returncode == 0, err.decode()[-2000:]
    child_status, child_seconds = out.decode().split()
    # The child must not flush (or destroy) the producer it inherited: that never returns.
    assert int(child_status) == 0 and float(child_seconds) < 10, err.decode()[-2000:]
    assert time.monotonic() - started < 45

    codec = AvroCodec(settings)
    records = all_pipeline_records(settings)
    senders = sorted(codec.decode(m.value())["payload"]["image_id"]
                     for m in records[settings.topic("image.send")])
    assert senders == (["child", "parent"] if child_sends else ["parent"])
    assert not records[settings.dlq_topic]


def test_notification_too_large_for_kafka_is_dead_lettered_truncated_and_glance_carries_on(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    transport, notifier = _kafka_avro_notifier(settings)
    try:
        sent = spy_on_drivers(notifier)
        update = next(n for n in glance_notifications() if n["event_type"] == "image.update")
        huge = {**update["payload"], "properties": {"blob": "x" * 1_200_000}}
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            notifier.info({}, "image.update", huge)  # must not raise, nor log a 1 MB payload
            notify_like(notifier, update)  # and the next one goes through
        assert not [r for r in caplog.records if r.name.startswith("oslo_messaging")]
        assert max(len(r.getMessage()) for r in caplog.records) < 2000
        the_driver(notifier).flush(20)
    finally:
        transport.cleanup()

    records = all_pipeline_records(settings)
    (dead,) = records[settings.dlq_topic]
    assert header_value(dead.headers(), REASON) == "oversized"
    assert "truncated" in header_value(dead.headers(), DETAIL)
    assert int(header_value(dead.headers(), ORIGINAL_SIZE)) > settings.max_message_bytes
    assert dead.value() and len(dead.value()) < settings.max_message_bytes
    assert dead.value().startswith(b'{"message_id": "' + sent[0]["message_id"].encode())
    (delivered,) = records[settings.topic("image.update")]
    assert_same_notification(AvroCodec(settings).decode(delivered.value()), sent[1])
