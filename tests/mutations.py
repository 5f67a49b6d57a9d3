"""A seeded corpus of malformed inputs, made by breaking good notifications in known ways.

Each input carries the dead-letter reason it must be refused for (README "Dead letters"),
decided here from how it was broken, never by asking the codec: a test then asserts the product
gives exactly that reason. What the contract says a notification must have is written down here
independently (the envelope of oslo.messaging, and the payload keys Glance always sends).
"""

from __future__ import annotations

import copy
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The event types with a schema of their own (README "Topics"); any other goes to glance.other
#: with its payload kept as JSON text, so a payload of any JSON type is valid there.
DOCUMENTED = frozenset({
    "image.create", "image.prepare", "image.upload", "image.activate", "image.send",
    "image.update", "image.delete", "task.run", "task.processing", "task.success", "task.failure"})
ENVELOPE = ("message_id", "publisher_id", "event_type", "priority", "timestamp", "payload")
#: Envelope fields that must be text.
TEXT_FIELDS = ("message_id", "publisher_id", "event_type", "priority", "timestamp")
#: Payload keys Glance always sends in a dict payload, and their JSON type.
REQUIRED_PAYLOAD: dict[str, dict[str, type]] = {
    "image.send": {"bytes_sent": int, "image_id": str},
    **{t: {"id": str} for t in DOCUMENTED if t.startswith("image.") and t != "image.send"},
}
#: Wrong, non-null values by the type they stand in for.
NOT_TEXT: list[Any] = [True, 0, -1, 2**64, 1.5, [], [1, "a"], {}, {"k": [None]}]
NOT_INTEGER: list[Any] = ["text", "", "12", 1.5, [], [1, "a"], {}, {"k": [None]}]
NOT_PAYLOAD: list[Any] = [True, 0, -1, 1.5, [], [1, "a"]]
UNKNOWN_PRIORITIES = ["AUDIT", "debug", "CRITICAL", "sample", "", "INFOO", "warnings"]
BAD_TIMESTAMPS = ["yesterday", "2026-13-45 99:99:99", "12/25/2026", "", "2026-11-25 25:00:00"]


@dataclass(frozen=True)
class Malformed:
    value: bytes
    #: The dead-letter reason it must be refused for.
    reason: str
    #: How it was made (the mutation's name).
    kind: str


def _json(n: Any) -> bytes:
    return json.dumps(n).encode()


def _wrong_type(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    required = REQUIRED_PAYLOAD.get(n["event_type"], {})
    if isinstance(n["payload"], dict) and required and rng.random() < 0.5:
        key = rng.choice(sorted(required))
        n["payload"][key] = rng.choice(NOT_INTEGER if required[key] is int else NOT_TEXT)
    elif n["event_type"] in DOCUMENTED and rng.random() < 0.2:
        n["payload"] = rng.choice(NOT_PAYLOAD)
    else:
        n[rng.choice(TEXT_FIELDS)] = rng.choice(NOT_TEXT)
    return _json(n), "wrong_type"


def _missing(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    required = REQUIRED_PAYLOAD.get(n["event_type"], {})
    choice = rng.randrange(4)
    if choice == 0 and isinstance(n["payload"], dict) and required:
        key = rng.choice(sorted(required))
        if rng.random() < 0.5:
            del n["payload"][key]
        else:
            n["payload"][key] = None
    elif choice == 1:
        n["message_id"] = ""  # what duplicates are recognised by
    else:
        del n[rng.choice(ENVELOPE)]
    return _json(n), "missing_field"


def _priority(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    n["priority"] = rng.choice(UNKNOWN_PRIORITIES)
    return _json(n), "unknown_priority"


def _timestamp(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    n["timestamp"] = rng.choice(BAD_TIMESTAMPS)
    return _json(n), "bad_timestamp"


def _truncated(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    text = _json(n)  # an object's text: no proper prefix of it is JSON
    return text[: rng.randrange(0, len(text) - 1)], "not_json"


def _not_utf8(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    text = bytearray(_json(n))  # ASCII: a lone lead or continuation byte cannot be UTF-8
    text.insert(rng.randrange(len(text)), rng.choice([0xFF, 0xC3, 0x80, 0xFE]))
    return bytes(text), "not_utf8"


def _not_object(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    return _json(rng.choice([[n], "a string", 42, None, [1, 2, 3]])), "not_an_object"


def _bad_envelope(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    inner = rng.choice([json.dumps(n)[:-3], 7, json.dumps([n]), None])
    return _json({"oslo.version": "2.0", "oslo.message": inner}), "bad_envelope"


def _garbage(n: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        return b"\xff" + rng.randbytes(rng.randrange(0, 200)), "not_utf8"
    letters = "abcdefghijklmnopqrstuvwxyz{}[],:"
    return ("x" + "".join(rng.choice(letters) for _ in range(rng.randrange(0, 100)))).encode(), \
        "not_json"


def huge(n: dict[str, Any], size: int) -> bytes:
    """Over the broker's message size, in a place where any text is valid."""
    if isinstance(n["payload"], dict):
        n["payload"]["x-blob"] = "x" * size
    else:
        n["payload"] = "x" * size
    return _json(n)


MUTATIONS: dict[str, Callable[[dict[str, Any], random.Random], tuple[bytes, str]]] = {
    "wrong_type": _wrong_type, "missing_field": _missing, "unknown_priority": _priority,
    "bad_timestamp": _timestamp, "truncated": _truncated, "not_utf8": _not_utf8,
    "not_an_object": _not_object, "bad_envelope": _bad_envelope, "garbage": _garbage,
}


def malformed_json(good: list[dict[str, Any]], count: int, seed: int, huge_count: int = 0
                   ) -> list[Malformed]:
    """`count` broken JSON inputs (plus `huge_count` above 1 MB, the broker's message size)."""
    rng = random.Random(seed)
    kinds = sorted(MUTATIONS)
    out = []
    for i in range(count):
        value, reason = MUTATIONS[kinds[i % len(kinds)]](copy.deepcopy(rng.choice(good)), rng)
        out.append(Malformed(value, reason, kinds[i % len(kinds)]))
    out += [Malformed(huge(copy.deepcopy(rng.choice(good)), rng.randrange(1_100_000, 1_500_000)),
                      "oversized", "huge") for _ in range(huge_count)]
    rng.shuffle(out)
    return out


#: An Avro body that cannot be read whatever the schema: its first field's length (a zigzag
#: varint, 2**31 - 1) is longer than any record here.
UNREADABLE_BODY = b"\xfe\xff\xff\xff\x0f"


def malformed_avro(good_values: list[bytes], count: int, seed: int) -> list[Malformed]:
    """`count` records a worker must refuse: wrong magic byte, unknown schema id, an unreadable
    body, a truncated header, bytes after the record, JSON or random bytes instead of a framed
    record."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        value = rng.choice(good_values)
        kind = i % 6
        if kind == 0:
            out.append(Malformed(bytes([rng.randrange(1, 256)]) + value[1:], "bad_framing",
                                 "magic_byte"))
        elif kind == 1:  # the manifest's ids are 101-116
            schema_id = rng.randrange(10_000, 2**32)
            out.append(Malformed(value[:1] + struct.pack(">I", schema_id) + value[5:],
                                 "unknown_schema", "schema_id"))
        elif kind == 2:
            out.append(Malformed(value[:5] + UNREADABLE_BODY + rng.randbytes(rng.randrange(0, 60)),
                                 "decode_error", "body"))
        elif kind == 3:
            out.append(Malformed(value[: rng.randrange(0, 5)], "bad_framing", "header"))
        elif kind == 4:  # two records in one value: the second would be dropped unread
            out.append(Malformed(value + rng.choice(good_values)[5:], "decode_error", "trailing"))
        else:
            out.append(Malformed(b'{"json": "not avro"}' if rng.random() < 0.5
                                 else bytes([rng.randrange(1, 256)]) + rng.randbytes(29),
                                 "bad_framing", "not_avro"))
    return out


def publisher_order(n: int) -> list[int]:
    """A fixed interleaving of good and bad inputs (a permutation for n <= 10007)."""
    return sorted(range(n), key=lambda i: (i * 7919) % 10007)


def bridge_order(values: list[bytes]) -> list[bytes]:
    """A fixed interleaving by a stable hash of the value (not hash(): PYTHONHASHSEED)."""
    return sorted(values, key=lambda v: zlib.crc32(v) % 9973)
