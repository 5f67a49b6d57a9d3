"""A seeded corpus of malformed inputs, made by breaking good notifications in every way."""

from __future__ import annotations

import copy
import json
import random
import struct
from collections.abc import Callable
from typing import Any

WRONG_VALUES: list[Any] = [None, True, 0, -1, 2**64, 1.5, "", "text", [], [1, "a"], {}, {"k": [None]}]


def _wrong_type(n: dict[str, Any], rng: random.Random) -> bytes:
    target = n["payload"] if isinstance(n["payload"], dict) and rng.random() < 0.7 else n
    key = rng.choice(sorted(target))
    target[key] = rng.choice(WRONG_VALUES)
    return json.dumps(n).encode()


def _missing(n: dict[str, Any], rng: random.Random) -> bytes:
    del n[rng.choice(["message_id", "publisher_id", "event_type", "priority", "timestamp",
                      "payload"])]
    return json.dumps(n).encode()


def _priority(n: dict[str, Any], rng: random.Random) -> bytes:
    n["priority"] = rng.choice(["AUDIT", "debug", "CRITICAL", "sample", "", "INFOO"])
    return json.dumps(n).encode()


def _timestamp(n: dict[str, Any], rng: random.Random) -> bytes:
    n["timestamp"] = rng.choice(["yesterday", "2026-13-45 99:99:99", "12/25/2026", ""])
    return json.dumps(n).encode()


def _truncated(n: dict[str, Any], rng: random.Random) -> bytes:
    text = json.dumps(n).encode()
    return text[: rng.randrange(0, len(text) - 1)]


def _not_utf8(n: dict[str, Any], rng: random.Random) -> bytes:
    text = bytearray(json.dumps(n).encode())
    text.insert(rng.randrange(len(text)), rng.choice([0xFF, 0xC3, 0x80, 0xFE]))
    return bytes(text)


def _not_object(n: dict[str, Any], rng: random.Random) -> bytes:
    return json.dumps(rng.choice([[n], "a string", 42, None, [1, 2, 3]])).encode()


def _bad_envelope(n: dict[str, Any], rng: random.Random) -> bytes:
    inner = rng.choice([json.dumps(n)[:-3], 7, json.dumps([n])])
    return json.dumps({"oslo.version": "2.0", "oslo.message": inner}).encode()


def _huge(n: dict[str, Any], rng: random.Random) -> bytes:
    n["payload"] = {**(n["payload"] if isinstance(n["payload"], dict) else {}),
                    "blob": "x" * rng.randrange(1_100_000, 1_500_000)}
    return json.dumps(n).encode()


def _garbage(n: dict[str, Any], rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 200))


MUTATIONS: dict[str, Callable[[dict[str, Any], random.Random], bytes]] = {
    "wrong_type": _wrong_type, "missing_field": _missing, "unknown_priority": _priority,
    "bad_timestamp": _timestamp, "truncated": _truncated, "not_utf8": _not_utf8,
    "not_an_object": _not_object, "bad_envelope": _bad_envelope, "garbage": _garbage,
}


def malformed_json(good: list[dict[str, Any]], count: int, seed: int, huge: int = 0) -> list[bytes]:
    """`count` broken JSON inputs (plus `huge` ones above the broker's message size)."""
    rng = random.Random(seed)
    kinds = sorted(MUTATIONS)
    out = [MUTATIONS[kinds[i % len(kinds)]](copy.deepcopy(rng.choice(good)), rng)
           for i in range(count)]
    out += [_huge(copy.deepcopy(rng.choice(good)), rng) for _ in range(huge)]
    rng.shuffle(out)
    return out


def malformed_avro(good_values: list[bytes], count: int, seed: int) -> list[bytes]:
    """`count` records a worker must refuse: wrong magic byte, unknown schema id, a body written
    with another schema, truncation, random bytes."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        value = rng.choice(good_values)
        kind = i % 5
        if kind == 0:
            out.append(bytes([rng.randrange(1, 256)]) + value[1:])
        elif kind == 1:
            out.append(value[:1] + struct.pack(">I", rng.randrange(10_000, 2**32)) + value[5:])
        elif kind == 2:  # another Glance schema's header on this body, or a foreign body
            out.append(value[:5] + rng.randbytes(rng.randrange(1, 60)))
        elif kind == 3:
            out.append(value[: rng.randrange(0, 6)])
        else:
            out.append(b'{"json": "not avro"}' if rng.random() < 0.5 else rng.randbytes(30))
    return out
