"""Dead-letter records: the original bytes untouched, the reason and origin in headers.

Keeping the value byte-for-byte means a fixed record can be replayed with `glance-kafka publish`
(or re-consumed by the worker), the convention Kafka Connect's DLQ uses too.
"""

from __future__ import annotations

import json
from typing import Any

REASON = "glance.dlq.reason"
DETAIL = "glance.dlq.detail"
SOURCE = "glance.dlq.source"
ORIGIN = "glance.dlq.origin"  # topic/partition/offset the record came from, when it came from Kafka
#: Set only when the original was too large for Kafka and only its beginning is kept.
ORIGINAL_SIZE = "glance.dlq.original_size"
ORIGINAL_SHA256 = "glance.dlq.original_sha256"

Headers = list[tuple[str, bytes]]


def original_bytes(raw: Any) -> bytes:
    """What the caller gave us, as bytes; dicts as the JSON the oslo drivers would have sent."""
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    try:
        return json.dumps(raw, default=str).encode("utf-8")
    except (TypeError, ValueError):
        return repr(raw).encode("utf-8", errors="replace")


def dead_letter_headers(reason: str, detail: str, source: str, origin: str | None = None,
                        original_headers: Headers | None = None) -> Headers:
    headers: Headers = list(original_headers or [])
    headers += [(REASON, reason.encode()), (DETAIL, detail.encode("utf-8", errors="replace")),
                (SOURCE, source.encode())]
    if origin:
        headers.append((ORIGIN, origin.encode()))
    return headers


def header_value(headers: Headers | None, name: str) -> str | None:
    for key, value in headers or []:
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace")
    return None
