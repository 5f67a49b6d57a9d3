"""Notifications to Avro and back, without Kafka: real Glance shapes, seed shapes, bad input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from producers.config import Settings
from producers.exceptions import InvalidNotification
from producers.serde import AvroCodec, record_key
from tests.glance_events import glance_notifications, seed_notifications

ALLOWED_ADDED = (None, {}, [], False)


def assert_same_notification(got: dict[str, Any], sent: dict[str, Any]) -> None:
    """Every value sent comes back; keys the schema models but the input lacked come back empty."""
    assert got["message_id"] == sent["message_id"]
    assert got["publisher_id"] == sent["publisher_id"]
    assert got["event_type"] == sent["event_type"]
    assert got["priority"] == sent["priority"].upper()
    assert got["timestamp"] == sent["timestamp"]
    if isinstance(sent["payload"], dict):
        for key, value in sent["payload"].items():
            assert got["payload"][key] == value, key
        for key in set(got["payload"]) - set(sent["payload"]):
            assert got["payload"][key] in ALLOWED_ADDED, key
    else:
        assert got["payload"] == sent["payload"]


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(Settings(bootstrap_servers="127.0.0.1:1"))


@pytest.mark.parametrize("source", [glance_notifications, seed_notifications])
def test_round_trip_without_loss(codec: AvroCodec, source) -> None:
    notifications = source()
    assert notifications
    for sent in notifications:
        encoded = codec.encode(copy.deepcopy(sent))
        assert encoded.value[0] == 0  # Confluent framing: magic byte, then the schema id
        assert_same_notification(codec.decode(encoded.value), sent)


def test_glance_notifications_are_exact_including_payload_keys(codec: AvroCodec) -> None:
    """What Glance really sends comes back as exactly the same dict, key for key."""
    for sent in glance_notifications():
        got = codec.decode(codec.encode(sent).value)
        assert got == {**sent, "priority": sent["priority"].upper()}


def test_oslo_wire_envelope_is_unwrapped_and_context_dropped(codec: AvroCodec) -> None:
    sent = glance_notifications()[0]
    wire = {"oslo.version": "2.0",
            "oslo.message": json.dumps({**sent, "_context": {"auth_token": "secret"}})}
    got = codec.decode(codec.encode(json.dumps(wire).encode()).value)
    assert got == {**sent, "priority": sent["priority"].upper()}
    assert "secret" not in json.dumps(got)


def test_unknown_envelope_keys_are_counted_and_logged_once_oslo_keys_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    """Extra top-level keys are not published and do not refuse the record (issue 17): oslo's
    own `_context_*`/`_unique_id` pass silently, any other is counted and logged once."""
    codec = AvroCodec(Settings(bootstrap_servers="127.0.0.1:1"))
    sent = glance_notifications()[0]
    plain = codec.encode(sent).value
    oslo = {**sent, "_context_user": "u1", "_context_request_id": "req-1", "_unique_id": "abc"}
    with caplog.at_level("WARNING", logger="producers.serde"):
        assert codec.encode(oslo).value == plain
        assert codec.unknown_envelope_keys == {}
        assert not [r for r in caplog.records if r.name == "producers.serde"]
        for _ in range(3):
            assert codec.encode({**oslo, "region": "r1"}).value == plain
    assert codec.unknown_envelope_keys == {"region": 3}
    assert [r.getMessage() for r in caplog.records if r.name == "producers.serde"] == [
        "notifications carry a top-level 'region', which no schema models: "
        "it is not published (logged once)"]


def test_topics_and_keys_follow_the_event_type(codec: AvroCodec) -> None:
    topics = {}
    for sent in glance_notifications():
        encoded = codec.encode(sent)
        topics[sent["event_type"]] = encoded.topic
        payload = sent["payload"]
        if sent["event_type"].startswith("task.") and isinstance(payload, dict):
            assert encoded.key == payload["id"].encode()
        elif sent["event_type"] == "image.send" or sent["event_type"].startswith("image.member."):
            assert encoded.key == payload["image_id"].encode()
        elif isinstance(payload, dict):
            assert encoded.key == payload["id"].encode()
    assert topics["image.send"] == "glance.image.send"
    assert topics["task.failure"] == "glance.task.failure"
    assert topics["image.member.create"] == "glance.other"


def test_seed_image_delete_with_bare_id_is_keyed_by_it_and_text_by_message_id() -> None:
    assert record_key("image.delete", "abc", "m1") == b"abc"
    assert record_key("image.upload", "Image storage media is full", "m1") == b"m1"
    assert record_key("metadef_tag.create", {"namespace": "n"}, "m2") == b"m2"


def _base() -> dict[str, Any]:
    return {"message_id": "m", "publisher_id": "image.h", "event_type": "image.send",
            "priority": "INFO", "timestamp": "2026-11-25 08:00:00",
            "payload": {"image_id": "i", "owner_id": "p", "receiver_tenant_id": "r",
                        "receiver_user_id": "u", "bytes_sent": 10}}


def _with(path: str, value: Any) -> dict[str, Any]:
    n = _base()
    target = n
    *parents, last = path.split(".")
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return n


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xfe not utf-8", "not_utf8"),
    (b'{"truncated": ', "not_json"),
    (b"[1, 2]", "not_an_object"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": 5}), "bad_envelope"),
    (_with("message_id", KeyError), "missing_field"),
    (_with("payload", KeyError), "missing_field"),
    (_with("payload.bytes_sent", KeyError), "missing_field"),
    (_with("payload.bytes_sent", "many"), "wrong_type"),
    (_with("payload.bytes_sent", True), "wrong_type"),
    (_with("payload.bytes_sent", 2**64), "wrong_type"),
    (_with("payload.owner_id", 7), "wrong_type"),
    (_with("publisher_id", None), "wrong_type"),
    (_with("payload", [1]), "wrong_type"),
    (_with("priority", "AUDIT"), "unknown_priority"),
    (_with("priority", 3), "wrong_type"),
    (_with("timestamp", "yesterday"), "bad_timestamp"),
    # valid ISO text, but before year 1 once moved to UTC (astimezone overflows)
    (_with("timestamp", "0001-01-01T00:00:00+01:00"), "bad_timestamp"),
    (_with("timestamp", "9999-12-31T23:59:59-01:00"), "bad_timestamp"),
    (_with("event_type", ""), "wrong_type"),
])
def test_bad_input_is_refused_with_a_reason(codec: AvroCodec, raw: Any, reason: str) -> None:
    with pytest.raises(InvalidNotification) as caught:
        codec.encode(raw)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_oversized_records_are_refused() -> None:
    codec = AvroCodec(Settings(bootstrap_servers="127.0.0.1:1", max_message_bytes=2000))
    n = _base()
    n["payload"]["note"] = "x" * 5000
    with pytest.raises(InvalidNotification) as caught:
        codec.encode(n)
    assert caught.value.reason == "oversized"


def test_priority_any_case_and_iso_timestamps(codec: AvroCodec) -> None:
    n = _base()
    n["priority"] = "warning"
    n["timestamp"] = "2026-11-25T09:00:00.5+01:00"
    got = codec.decode(codec.encode(n).value)
    assert got["priority"] == "WARN"
    assert got["timestamp"] == "2026-11-25 08:00:00.500000"


@pytest.mark.parametrize("value", [b"", b"\x01\x00\x00\x00\x65abc", b"\x00\x00\x00\x27\x0f\x02",
                                   b"\x00\x00\x00\x00\x6b\xff\xff\xff"])
def test_undecodable_records_raise_clear_errors(codec: AvroCodec, value: bytes) -> None:
    with pytest.raises(InvalidNotification) as caught:
        codec.decode(value)
    assert caught.value.reason in {"bad_framing", "unknown_schema", "decode_error"}


def test_image_locations_are_never_written(codec: AvroCodec) -> None:
    """Glance leaves them out for a reason (they can carry store credentials); so do we, even
    when a patched notifier or another producer puts them in."""
    sent = next(n for n in glance_notifications() if n["event_type"] == "image.activate")
    leaky = copy.deepcopy(sent)
    leaky["payload"]["locations"] = [{"url": "swift+https://user:s3cret@swift/v1/x", "metadata": {}}]
    leaky["payload"]["direct_url"] = "rbd://fsid/pool/image/snap"
    encoded = codec.encode(leaky)
    assert b"s3cret" not in encoded.value and b"rbd://" not in encoded.value
    assert codec.decode(encoded.value)["payload"] == sent["payload"]


def test_generated_code_is_compiled_in_one_place() -> None:
    """One exec site for all generated code (producers/generated.py: the Avro codec and the
    row plans), and no eval."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sites = []
    for path in sorted([*root.glob("producers/**/*.py"), *root.glob("streams/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("exec", "eval")):
                sites.append(f"{path.relative_to(root)}:{node.lineno} {node.func.id}")
    assert len(sites) == 1 and sites[0].startswith("producers/generated.py:"), sites
