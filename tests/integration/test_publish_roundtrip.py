"""publish -> per-type topic -> consume gives back what Glance sent, over a real broker."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from producers.config import Settings
from producers.deadletter import REASON, SOURCE, header_value
from producers.exceptions import InvalidNotification
from producers.publisher import Publisher
from tests.glance_events import glance_notifications, seed_notifications
from tests.kafka_helpers import all_pipeline_records, decoded, read_all
from tests.unit.test_codec import assert_same_notification


def _topic_of(settings: Settings, event_type: str) -> str:
    from producers.contract import DOCUMENTED_TYPES

    return settings.topic(event_type if event_type in DOCUMENTED_TYPES else "other")


def test_library_round_trip_for_glance_and_seed_shapes(settings: Settings) -> None:
    sent = glance_notifications() + seed_notifications()
    with Publisher(settings) as publisher:
        for notification in sent:
            publisher.publish(copy.deepcopy(notification))
    assert publisher.stats.delivered == len(sent) and publisher.stats.failed == 0

    by_id = {n["message_id"]: n for n in sent}
    records = all_pipeline_records(settings)
    seen = 0
    for topic, messages in records.items():
        for message in messages:
            if topic == settings.dlq_topic:
                pytest.fail(f"unexpected dead letter: {header_value(message.headers(), REASON)}")
            got = decoded_one(settings, message.value())
            original = by_id[got["message_id"]]
            assert topic == _topic_of(settings, original["event_type"])
            assert_same_notification(got, original)
            seen += 1
    assert seen == len(sent)


def decoded_one(settings: Settings, value: bytes) -> dict:
    from producers.serde import AvroCodec

    return AvroCodec(settings).decode(value)


def test_one_images_events_share_a_partition_in_order(settings: Settings) -> None:
    events = [n for n in glance_notifications() if n["event_type"] == "image.send"]
    with Publisher(settings) as publisher:
        for n in events:
            publisher.publish(n)
    partitions: dict[bytes, set[int]] = {}
    for message in read_all(settings, settings.topic("image.send")):
        partitions.setdefault(message.key(), set()).add(message.partition())
    assert partitions and all(len(p) == 1 for p in partitions.values())


def test_bad_input_is_dead_lettered_with_original_bytes_and_caller_hears(settings: Settings) -> None:
    good = glance_notifications()[:5]
    bad = [b"\xff\xfe", b"{not json", b"[]", json.dumps({**good[0], "priority": "LOUD"}).encode()]
    with Publisher(settings) as publisher:
        errors = []
        for raw in [*bad, *(json.dumps(n).encode() for n in good)]:
            try:
                publisher.publish(raw)
            except InvalidNotification as exc:
                errors.append(exc.reason)
    assert errors == ["not_utf8", "not_json", "not_an_object", "unknown_priority"]
    assert publisher.stats.dead_letters_by_reason == Counter(errors)
    with Publisher(settings) as replaying, pytest.raises(InvalidNotification):
        replaying.publish(b"{", original_headers=[("traceparent", b"00-abc-01")])
    bad.append(b"{")
    dead = read_all(settings, settings.dlq_topic)
    assert sorted(m.value() for m in dead) == sorted(bad)
    assert {header_value(m.headers(), SOURCE) for m in dead} == {"publish"}
    assert any(("traceparent", b"00-abc-01") in (m.headers() or []) for m in dead)
    delivered = sum(len(v) for k, v in all_pipeline_records(settings).items()
                    if k != settings.dlq_topic)
    assert delivered == len(good)


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "producers", *args], input=stdin,
                          capture_output=True, timeout=120, env={**os.environ})


def test_cli_publish_then_consume_and_dead_letter_replay(settings: Settings, tmp_path) -> None:
    common = ["--bootstrap-servers", settings.bootstrap_servers, "--topic-prefix",
              settings.topic_prefix]
    good = glance_notifications() + seed_notifications()
    wire = [json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(n)}) for n in good[:3]]
    broken = ["not json at all", json.dumps({**good[0], "timestamp": "noon"}),
              json.dumps({"message_id": "x"})]
    lines = [json.dumps(n) for n in good[3:]] + wire + broken
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n\n")

    done = _cli("publish", str(source), *common)
    assert done.returncode == 0, done.stderr
    assert (f"read {len(lines)}, delivered {len(good)}, dead-lettered 3 (bad_timestamp=1, "
            f"missing_field=1, not_json=1) to {settings.dlq_topic}, not delivered 0"
            in done.stderr.decode())
    strict = _cli("publish", "-", "--strict", *common, stdin=broken[0].encode())
    assert strict.returncode == 1

    topics = sorted({_topic_of(settings, n["event_type"]) for n in good})
    consumed = _cli("consume", *(f"--topic={t}" for t in topics), "--from-beginning",
                    "--timeout", "2", *common)
    assert consumed.returncode == 0, consumed.stderr
    got = {n["message_id"]: n for n in map(json.loads, consumed.stdout.decode().splitlines())}
    assert len(got) == len(good)  # count in = count out + dead letters (checked above)
    for n in good:
        assert_same_notification(got[n["message_id"]], n)

    # the dead letters can be listed with reasons, and replayed as they were
    listed = _cli("consume", "--topic", settings.dlq_topic, "--from-beginning", "--timeout", "2",
                  *common)
    reasons = Counter(json.loads(line)["reason"] for line in listed.stdout.decode().splitlines())
    assert reasons == Counter({"not_json": 2, "bad_timestamp": 1, "missing_field": 1})
    originals = _cli("consume", "--topic", settings.dlq_topic, "--from-beginning", "--original",
                     "--timeout", "2", *common)
    assert sorted(originals.stdout.decode().splitlines()) == sorted([*broken, broken[0]])


def test_cli_errors_are_one_line(settings: Settings) -> None:
    done = _cli("consume", "--topic", "no.such.topic", "--bootstrap-servers",
                settings.bootstrap_servers, "--timeout", "1")
    assert done.returncode == 6
    assert done.stderr.decode().strip().splitlines()[-1] == (
        f"glance-kafka consume: error: topic no.such.topic does not exist on "
        f"{settings.bootstrap_servers}")
    bad = _cli("publish", "-", "-X", "sasl.password=x")
    assert bad.returncode == 2 and "sasl.password" in bad.stderr.decode()
    assert "Traceback" not in bad.stderr.decode()


def test_decoded_helper_reads_back(settings: Settings) -> None:
    with Publisher(settings) as publisher:
        publisher.publish(glance_notifications()[0])
    assert len(decoded(settings, _topic_of(settings, glance_notifications()[0]["event_type"]))) == 1


def test_cli_publish_flushes_everything_read_on_sigterm(settings: Settings) -> None:
    """Stopped while its input is still open, `publish` delivers every line it has read."""
    import signal
    import time

    lines = [json.dumps(n) for n in glance_notifications() * 40]
    process = subprocess.Popen(
        [sys.executable, "-m", "producers", "publish", "-", "--bootstrap-servers",
         settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(("\n".join(lines) + "\n").encode())
        process.stdin.flush()
        time.sleep(3)  # it has read everything and is waiting for more
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err  # stopped, and nothing left behind
    summary = err.decode().strip().splitlines()[-1]
    assert summary == (f"read {len(lines)}, delivered {len(lines)}, dead-lettered 0, "
                       "not delivered 0 (stopped by SIGTERM)")
    delivered = sum(len(v) for k, v in all_pipeline_records(settings).items()
                    if k != settings.dlq_topic)
    assert delivered == len(lines)
