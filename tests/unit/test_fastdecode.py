"""The generated Avro decoders (producers/schemacodec.py) against fastavro, byte for byte.

Whatever a generated reader accepts, fastavro must read to the same record (same keys in the same
order, same values, same types); whatever fastavro refuses, the reader must refuse too, so that
AvroCodec.decode_record hands it to fastavro and fails with fastavro's own error.
"""

from __future__ import annotations

import random
from io import BytesIO
from typing import Any

import fastavro
import pytest

from producers.config import Settings
from producers.exceptions import InvalidNotification
from producers.schemacodec import _decoder, _Unsure, _varint
from producers.serde import AvroCodec
from streams.demo.simulator import TrafficGenerator
from tests.glance_events import glance_notifications, seed_notifications
from tests.mutations import malformed_avro

SETTINGS = Settings(bootstrap_servers="127.0.0.1:1")


def _values() -> list[bytes]:
    codec = AvroCodec(SETTINGS)
    sent = (glance_notifications() + seed_notifications()
            + TrafficGenerator(seed=3, projects=20, rate=200.0).next_batch(2000))
    return [codec.encode(n).value for n in sent]


VALUES = _values()


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types and (for dicts) the same key order, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "tzinfo"):
        return a == b and a.tzinfo is b.tzinfo
    return bool(a == b)


def _readers(codec: AvroCodec) -> dict[bytes, tuple[Any, Any]]:
    """schema id bytes -> (generated reader, fastavro's parsed writer schema)."""
    out = {}
    for value in VALUES:
        codec.decode_record(value)
    for schema_id, (writer, _, resolve_to) in codec._writers.items():
        assert resolve_to is None
        reader = _decoder(writer, str(schema_id))
        assert reader is not None, schema_id
        out[schema_id.to_bytes(4, "big")] = (reader, writer)
    return out


def _compare(reader: Any, writer: Any, value: bytes) -> bool:
    """True when the generated reader accepted the value (and then agreed with fastavro)."""
    ours = reader(value, 5)  # never raises: None is "not sure", and fastavro then decides
    if ours is None:
        return False
    theirs = fastavro.schemaless_reader(BytesIO(value[5:]), writer, None)
    assert _same(ours, theirs), value
    return True


def test_every_schema_reads_what_fastavro_reads() -> None:
    codec = AvroCodec(SETTINGS)
    readers = _readers(codec)
    assert len(readers) >= 12  # every documented type, the catch-all, both task versions
    for value in VALUES:
        assert _compare(*readers[value[1:5]], value)


def test_corrupt_bodies_are_read_alike_or_left_to_fastavro() -> None:
    codec = AvroCodec(SETTINGS)
    readers = _readers(codec)
    rng = random.Random(11)
    accepted = 0
    for _ in range(20_000):
        value = bytearray(rng.choice(VALUES))
        kind = rng.randrange(5)
        if kind == 0:  # flipped bytes
            for _ in range(rng.randrange(1, 4)):
                value[rng.randrange(5, len(value))] = rng.randrange(256)
        elif kind == 1:  # truncated
            del value[rng.randrange(6, len(value)):]
        elif kind == 2:  # bytes inserted
            at = rng.randrange(5, len(value))
            value[at:at] = rng.randbytes(rng.randrange(1, 12))
        elif kind == 3:  # a long run of continuation bytes (over-long varints)
            at = rng.randrange(5, len(value))
            value[at:at] = bytes([0x80 | rng.randrange(128)] * rng.randrange(1, 14))
        else:  # a random body
            value[5:] = rng.randbytes(rng.randrange(1, 80))
        schema_id = bytes(value[1:5])
        accepted += _compare(*readers[schema_id], bytes(value))
    assert accepted > 1000  # many corruptions still parse (changed bytes inside strings, ...)


def test_decode_record_fails_as_fastavro_does() -> None:
    """Undecodable records: the same InvalidNotification, reason and detail, as fastavro alone."""
    fast, slow = AvroCodec(SETTINGS), AvroCodec(SETTINGS)
    for value in VALUES:
        fast.decode_record(value)
        slow.decode_record(value)
    slow._fast.clear()  # schemas are cached now: it stays empty, fastavro reads everything
    bad = [m.value for m in malformed_avro(VALUES, 3000, seed=5)] + [v[:-3] for v in VALUES[:300]]
    for value in bad:
        outcomes = []
        for codec in (fast, slow):
            try:
                record, schema = codec.decode_record(value)
                outcomes.append(("ok", record, schema.schema_id))
            except InvalidNotification as exc:
                outcomes.append(("error", exc.reason, exc.detail))
        assert outcomes[0][0] == outcomes[1][0], value
        if outcomes[0][0] == "ok":
            assert _same(outcomes[0][1], outcomes[1][1]) and outcomes[0][2] == outcomes[1][2]
        else:
            assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 2**31, -(2**31) - 1, 1741000000123456,
                                   2**63 - 1, -(2**63)])
def test_varints(value: int) -> None:
    buffer = BytesIO()
    fastavro.schemaless_writer(buffer, "long", value)
    data = buffer.getvalue()
    raw, end = _varint(data, 1, data[0]) if data[0] > 127 else (data[0], 1)
    assert end == len(data) and (raw >> 1) ^ -(raw & 1) == value


def test_varints_wider_than_64_bits_are_left_to_fastavro() -> None:
    with pytest.raises(_Unsure):
        _varint(b"\xff" * 9 + b"\x02", 1, 0xFF)
    with pytest.raises(_Unsure):
        _varint(b"\xff" * 12, 1, 0xFF)
