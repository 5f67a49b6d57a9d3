"""Property-based bad input: the codec either encodes losslessly or refuses with a known reason.

Four strategies of 2,500 examples each (10,000 in all). Nothing may raise anything else.
"""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.config import Settings
from producers.exceptions import InvalidNotification
from producers.serde import AvroCodec
from tests.glance_events import glance_notifications, seed_notifications

REASONS = {"not_utf8", "not_json", "not_an_object", "bad_envelope", "missing_field", "wrong_type",
           "unknown_priority", "bad_timestamp", "oversized", "encode_error"}
DECODE_REASONS = {"bad_framing", "unknown_schema", "decode_error"}
CODEC = AvroCodec(Settings(bootstrap_servers="127.0.0.1:1", max_message_bytes=20_000))
SAMPLES = glance_notifications() + seed_notifications()
EXAMPLES = settings(max_examples=2500, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


def _check(raw: Any) -> None:
    try:
        encoded = CODEC.encode(raw)
    except InvalidNotification as exc:
        assert exc.reason in REASONS, exc.reason
        assert exc.detail
        return
    decoded = CODEC.decode(encoded.value)  # whatever was accepted must come back
    assert decoded["message_id"]


@EXAMPLES
@given(st.binary(max_size=400))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)


@EXAMPLES
@given(json_values)
def test_arbitrary_json_documents(value: Any) -> None:
    _check(json.dumps(value).encode())


@EXAMPLES
@given(st.sampled_from(SAMPLES), st.data())
def test_every_field_with_every_wrong_value(sample: dict, data: st.DataObject) -> None:
    """Replace, delete or add one envelope or payload field; or truncate the JSON text."""
    notification = copy.deepcopy(sample)
    action = data.draw(st.sampled_from(["replace", "delete", "add", "truncate", "huge"]))
    target = notification
    if isinstance(notification["payload"], dict) and data.draw(st.booleans()):
        target = notification["payload"]
    key = data.draw(st.sampled_from(sorted(target)))
    if action == "replace":
        target[key] = data.draw(json_values)
    elif action == "delete":
        del target[key]
    elif action == "add":
        target[data.draw(st.text(max_size=8))] = data.draw(json_values)
    elif action == "huge":
        target[key] = "x" * data.draw(st.integers(min_value=10_000, max_value=60_000))
    text = json.dumps(notification)
    if action == "truncate":
        text = text[: data.draw(st.integers(min_value=0, max_value=len(text) - 1))]
    _check(text.encode())


@EXAMPLES
@given(st.sampled_from(SAMPLES), st.binary(max_size=40), st.integers(min_value=0, max_value=2**32 - 1),
       st.integers(min_value=0, max_value=300))
def test_corrupt_avro_records_fail_decoding_clearly(sample: dict, noise: bytes, schema_id: int,
                                                     cut: int) -> None:
    good = CODEC.encode(sample).value
    for value in (good[:cut], b"\x01" + good[1:], good[:1] + struct.pack(">I", schema_id) + good[5:],
                  good[:5] + noise, good[:cut] + noise):
        try:
            CODEC.decode(value)
        except InvalidNotification as exc:
            assert exc.reason in DECODE_REASONS, exc.reason
