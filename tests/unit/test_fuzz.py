"""Property-based bad input: each generated input carries what must become of it, decided by the
generator from how it was made (tests/mutations.py), never by the codec. A refused one must be
refused with exactly that reason; an accepted one must decode to the values that were sent.

Four strategies of 2,500 examples each (10,000 in all). Nothing may raise anything else.
"""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from producers.config import Settings
from producers.exceptions import InvalidNotification
from producers.serde import AvroCodec
from tests.glance_events import glance_notifications, seed_notifications
from tests.kafka_helpers import same_notification
from tests.mutations import (
    BAD_TIMESTAMPS,
    DOCUMENTED,
    ENVELOPE,
    NOT_INTEGER,
    NOT_PAYLOAD,
    NOT_TEXT,
    REQUIRED_PAYLOAD,
    TEXT_FIELDS,
    UNKNOWN_PRIORITIES,
    UNREADABLE_BODY,
    huge,
)

LIMIT = 20_000
CODEC = AvroCodec(Settings(bootstrap_servers="127.0.0.1:1", max_message_bytes=LIMIT))
SAMPLES = glance_notifications() + seed_notifications()
EXAMPLES = settings(max_examples=2500, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
VALID = None  # the expectation of an input that must be accepted

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


def _check(raw: bytes, reason: str | None, sent: dict[str, Any] | None = None) -> None:
    try:
        encoded = CODEC.encode(raw)
    except InvalidNotification as exc:
        assert exc.reason == reason, (exc.reason, exc.detail)
        assert exc.detail
        return
    assert reason is VALID, f"accepted, but must be refused as {reason}"
    assert sent is not None
    assert same_notification(CODEC.decode(encoded.value), sent)


def _reason_of_foreign_text(raw: bytes) -> str | None:
    """What must become of bytes that are not a notification, from the stdlib's parsers: the
    first rule of the README's dead-letter reasons they break (None: looks like an envelope)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8"
    try:
        value = json.loads(text)
    except ValueError:
        return "not_json"
    if not isinstance(value, dict):
        return "not_an_object"
    if "oslo.message" in value:
        inner = value["oslo.message"]
        try:
            value = json.loads(inner) if isinstance(inner, str) else None
        except ValueError:
            value = None
        if not isinstance(value, dict):
            return "bad_envelope"
    event_type = value.get("event_type")
    if event_type is not None and not (isinstance(event_type, str) and event_type):
        return "wrong_type"  # the event type is read first: it chooses the schema
    if any(name not in value for name in ENVELOPE):
        return "missing_field"
    return None


@EXAMPLES
@given(st.binary(max_size=400))
def test_arbitrary_bytes(raw: bytes) -> None:
    reason = _reason_of_foreign_text(raw)
    assume(reason is not None)
    _check(raw, reason)


@EXAMPLES
@given(json_values)
def test_arbitrary_json_documents(value: Any) -> None:
    raw = json.dumps(value).encode()
    reason = _reason_of_foreign_text(raw)
    assume(reason is not None)
    _check(raw, reason)


def _documented_dict(n: dict[str, Any]) -> bool:
    return n["event_type"] in DOCUMENTED and isinstance(n["payload"], dict)


@EXAMPLES
@given(st.sampled_from(SAMPLES), st.data())
def test_every_field_with_every_wrong_value(sample: dict, data: st.DataObject) -> None:
    """Break one envelope or payload field in a way whose reason is known, or add a payload key
    (valid: it travels in `extra`, or in the catch-all's JSON text), or truncate the text."""
    n = copy.deepcopy(sample)
    required = REQUIRED_PAYLOAD.get(n["event_type"], {}) if _documented_dict(n) else {}
    actions = ["delete", "not_text", "empty_id", "priority", "timestamp", "truncate", "huge"]
    if isinstance(n["payload"], dict):
        actions.append("add_payload_key")
    if n["event_type"] in DOCUMENTED:
        actions.append("payload_not_object")
    if required:
        actions += ["payload_wrong_type", "payload_missing"]
    action = data.draw(st.sampled_from(actions))
    reason: str | None
    if action == "delete":
        del n[data.draw(st.sampled_from(ENVELOPE))]
        reason = "missing_field"
    elif action == "not_text":
        n[data.draw(st.sampled_from(TEXT_FIELDS))] = data.draw(st.sampled_from(NOT_TEXT))
        reason = "wrong_type"
    elif action == "empty_id":
        n["message_id"] = ""
        reason = "missing_field"
    elif action == "priority":
        n["priority"] = data.draw(st.sampled_from(UNKNOWN_PRIORITIES) | st.text(max_size=8).filter(
            lambda p: p.upper() not in ("INFO", "WARN", "WARNING", "ERROR")))
        reason = "unknown_priority"
    elif action == "timestamp":
        n["timestamp"] = data.draw(st.sampled_from(BAD_TIMESTAMPS))
        reason = "bad_timestamp"
    elif action == "payload_not_object":
        n["payload"] = data.draw(st.sampled_from(NOT_PAYLOAD))
        reason = "wrong_type"
    elif action == "payload_wrong_type":
        key = data.draw(st.sampled_from(sorted(required)))
        n["payload"][key] = data.draw(st.sampled_from(
            NOT_INTEGER if required[key] is int else NOT_TEXT))
        reason = "wrong_type"
    elif action == "payload_missing":
        key = data.draw(st.sampled_from(sorted(required)))
        if data.draw(st.booleans()):
            del n["payload"][key]
        else:
            n["payload"][key] = None
        reason = "missing_field"
    elif action == "add_payload_key":
        # "x-" keeps it clear of every key a schema models or drops
        n["payload"]["x-" + data.draw(st.text(max_size=8))] = data.draw(json_values)
        reason = VALID
    elif action == "huge":
        raw = huge(n, data.draw(st.integers(min_value=2 * LIMIT, max_value=3 * LIMIT)))
        _check(raw, "oversized")
        return
    else:
        text = json.dumps(n)
        _check(text[: data.draw(st.integers(min_value=0, max_value=len(text) - 1))].encode(),
               "not_json")
        return
    _check(json.dumps(n).encode(), reason, n)


def test_every_sample_comes_back_with_the_values_sent() -> None:
    for n in SAMPLES:
        _check(json.dumps(n).encode(), VALID, n)


@EXAMPLES
@given(st.sampled_from(SAMPLES), st.binary(max_size=40),
       st.integers(min_value=10_000, max_value=2**32 - 1), st.integers(min_value=0, max_value=300))
def test_corrupt_avro_records_fail_decoding_clearly(sample: dict, noise: bytes, schema_id: int,
                                                     cut: int) -> None:
    good = CODEC.encode(sample).value
    cases = [(good[:cut], VALID if cut >= len(good) else "bad_framing" if cut <= 5 else
              "decode_error"),
             ((bytes([1 + noise[0] % 255]) if noise else b"\x01") + good[1:], "bad_framing"),
             (good[:1] + struct.pack(">I", schema_id) + good[5:], "unknown_schema"),
             (good[:5] + UNREADABLE_BODY + noise, "decode_error"),
             # bytes after the record (a second one appended, say) would be dropped unread
             (good + noise, "decode_error" if noise else VALID)]
    for value, reason in cases:
        try:
            decoded = CODEC.decode(value)
        except InvalidNotification as exc:
            assert exc.reason == reason, (exc.reason, exc.detail, value)
            continue
        assert reason is VALID, (f"decoded, but must be refused as {reason}", value)
        assert same_notification(decoded, sample)
