"""The generated Avro writer writes exactly fastavro's bytes for every record the codec builds."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.avrowriter import compile_writer, varint
from producers.codec import to_wire_record
from producers.contract import default_contract
from producers.exceptions import InvalidNotification
from streams.simulator import TrafficGenerator
from tests.glance_events import glance_notifications, seed_notifications

CONTRACT = default_contract()
WRITERS = {v.schema_id: compile_writer(v.raw) for v in CONTRACT.by_id.values()}


def _fastavro(parsed: Any, record: dict[str, Any]) -> bytes:
    buffer = BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


def _same_bytes(notification: dict[str, Any]) -> bool:
    schema = CONTRACT.latest(notification["event_type"])
    try:
        record = to_wire_record(notification, schema)
    except InvalidNotification:
        return True
    return WRITERS[schema.schema_id](record) == _fastavro(schema.parsed, record)


def test_every_schema_in_the_contract_gets_a_writer() -> None:
    assert all(WRITERS.values()), [i for i, w in WRITERS.items() if w is None]


@pytest.mark.parametrize("source", [glance_notifications, seed_notifications])
def test_same_bytes_as_fastavro_on_real_shapes(source) -> None:
    assert all(_same_bytes(n) for n in source())


def test_same_bytes_as_fastavro_on_simulated_traffic() -> None:
    notifications = TrafficGenerator(seed=11, projects=50, images=3, rate=200.0).next_batch(5000)
    assert all(_same_bytes(n) for n in notifications)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 127, 128, 300, 2**31, 2**63 - 1, 2**64 + 5])
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


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(glance_notifications() + seed_notifications()), st.data())
def test_same_bytes_as_fastavro_on_generated_values(sample: dict[str, Any], data) -> None:
    """Each modelled payload field replaced by a value of its type (or None, or absent)."""
    schema = CONTRACT.latest(sample["event_type"])
    notification = {**sample, "message_id": data.draw(st.text(min_size=1, max_size=40))}
    if schema.payload is not None and isinstance(sample["payload"], dict):
        payload = dict(sample["payload"])
        fields = {f["name"]: f["type"] for f in schema.payload.check.schema["fields"]}
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
