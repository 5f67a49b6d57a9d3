"""The generated Avro encoders (producers/schemacodec.py) write exactly fastavro's bytes."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.codec import to_wire_record
from producers.contract import default_contract
from producers.exceptions import InvalidNotification
from producers.schemacodec import schema_codec, varint
from streams.demo.simulator import TrafficGenerator
from tests.glance_events import glance_notifications, seed_notifications

CONTRACT = default_contract()
#: The checks and the writer in one function, straight from the notification (None: declined).
ENCODERS = {v.schema_id: schema_codec(v) for v in CONTRACT.by_id.values()}


def _fastavro(parsed: Any, record: dict[str, Any]) -> bytes:
    buffer = BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


def _same_bytes(notification: dict[str, Any]) -> bool:
    """The generated encoder writes a body only for a notification the reference path accepts,
    and then fastavro's bytes for the record the reference path builds. It returns None on what
    it declines and never raises."""
    schema = CONTRACT.latest(notification["event_type"])
    direct = ENCODERS[schema.schema_id].encode(notification)
    try:
        record = to_wire_record(notification, schema)
    except InvalidNotification:
        return direct is None
    try:
        expected = _fastavro(schema.parsed, record)
    except (ValueError, TypeError, OverflowError):  # fastavro refuses it too (encode_error)
        return direct is None
    return direct is None or direct == expected


def test_every_schema_gets_a_generated_encoder() -> None:
    missing = [v.event_type for v in CONTRACT.by_id.values()
               if not ENCODERS[v.schema_id].encode_generated]
    assert not missing


@pytest.mark.parametrize("timestamp", [
    "1970-01-01 00:00:00", "1969-12-31 23:59:59.999999", "0001-01-01 00:00:00",
    "1978-12-02 19:29:36.710655", "1978-12-02 19:29:36.710656", "2024-08-15 03:04:03.123456",
    "3111-09-16 23:10:18.963967", "3111-09-16 23:10:18.963968", "9999-12-31 23:59:59.999999",
    "2024-08-15T03:04:03+02:00"])
def test_same_bytes_at_every_timestamp_width(timestamp: str) -> None:
    """The timestamp's 8-byte varint shortcut and the general varint around its edges
    (2**49 and 2**56 zigzagged microseconds: 1978-12-02 and 3111-09-16)."""
    assert all(_same_bytes({**n, "timestamp": timestamp}) for n in glance_notifications())


@pytest.mark.parametrize("source", [glance_notifications, seed_notifications])
def test_same_bytes_as_fastavro_on_real_shapes(source) -> None:
    assert all(_same_bytes(n) for n in source())


def test_same_bytes_as_fastavro_on_simulated_traffic() -> None:
    notifications = TrafficGenerator(seed=11, projects=50, images=3, rate=200.0).next_batch(5000)
    assert all(_same_bytes(n) for n in notifications)
    # ... and nearly all of them are written straight from the notification.
    direct = [n for n in notifications
              if ENCODERS[CONTRACT.latest(n["event_type"]).schema_id].encode(n) is not None]
    assert len(direct) > 0.9 * len(notifications)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 127, 128, 300, 2**14 - 1, 2**14, 2**21 - 1, 2**21,
                               2**28 - 1, 2**28, 2**31, 2**42 - 1, 2**42, 2**49 - 1, 2**49,
                               2**56 - 1, 2**56, 2**63 - 1, 2**64 + 5])
def test_varint(n: int) -> None:
    out = bytearray()
    m = n
    while True:
        byte = m & 0x7F
        m >>= 7
        out.append(byte | (0x80 if m else 0))
        if not m:
            break
    assert varint(n) == bytes(out)


strings = st.text(max_size=40) | st.text(min_size=4000, max_size=9000)
longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(glance_notifications() + seed_notifications()), st.data())
def test_same_bytes_as_fastavro_on_generated_values(sample: dict[str, Any], data) -> None:
    """Each modelled payload field replaced by a value of its type (or None, or absent)."""
    schema = CONTRACT.latest(sample["event_type"])
    notification = {**sample, "message_id": data.draw(st.text(min_size=1, max_size=40))}
    if schema.payload is not None and isinstance(sample["payload"], dict):
        payload = dict(sample["payload"])
        fields = {f["name"]: f["type"] for f in schema.payload.record["fields"]}
        for name in schema.payload.fields:
            kind = fields[name]
            inner = kind[1] if isinstance(kind, list) else kind
            value = {"string": strings, "long": longs, "boolean": st.booleans()}.get(
                inner if isinstance(inner, str) else "")
            if value is None and isinstance(inner, dict):
                value = (st.lists(st.text(max_size=20), max_size=5) if inner["type"] == "array"
                         else st.dictionaries(st.text(max_size=10), st.text(max_size=20),
                                              max_size=5))
            choice = data.draw(st.sampled_from(["keep", "value", "none", "absent"]))
            if choice == "value" and value is not None:
                payload[name] = data.draw(value)
            elif choice == "none":
                payload[name] = None
            elif choice == "absent":
                payload.pop(name, None)
        payload.update(data.draw(st.dictionaries(st.text(max_size=8), st.integers() | st.text(),
                                                 max_size=3)))
        notification["payload"] = payload
    assert _same_bytes(notification)


def test_codec_encodes_what_the_reference_path_would() -> None:
    """AvroCodec.encode (mostly the generated encoder) gives the same topic, key, value,
    event type and message id as the wire record written by fastavro, and the same error."""
    from producers.config import load_settings
    from producers.serde import AvroCodec, record_key

    settings = load_settings(bootstrap_servers="localhost:1", topic_prefix="t.")
    codec = AvroCodec(settings)
    notifications = TrafficGenerator(seed=5, projects=20, images=3, rate=200.0).next_batch(3000)
    notifications += glance_notifications() + seed_notifications()
    for n in notifications * 2:  # the second time round every type's header is known
        schema = CONTRACT.latest(n["event_type"])
        try:
            record = to_wire_record(n, schema)
        except InvalidNotification as exc:
            with pytest.raises(InvalidNotification) as raised:
                codec.encode(n)
            assert (raised.value.reason, raised.value.detail) == (exc.reason, exc.detail)
            continue
        encoded = codec.encode(n)
        topic = settings.topic(CONTRACT.topic_suffix(n["event_type"]))
        assert encoded.value == codec._header(topic, schema) + _fastavro(schema.parsed, record)
        assert (encoded.topic, encoded.key, encoded.event_type, encoded.message_id) == (
            topic, record_key(n["event_type"], n["payload"], n["message_id"]), n["event_type"],
            n["message_id"])
