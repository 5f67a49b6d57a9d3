"""The records a broker would hold for a list of notifications, without a broker (unit tests).

Partitions come from a stable hash of the key (CRC32, librdkafka's `consistent` partitioner), so
what a test generates does not depend on PYTHONHASHSEED.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Any

from producers.config import Settings
from producers.serde import AvroCodec
from streams.aggregates import SourceRecord

SETTINGS = Settings(bootstrap_servers="127.0.0.1:1")


def partition_for(key: bytes | None, partitions: int) -> int:
    return zlib.crc32(key or b"") % partitions


def source_log(notifications: list[dict[str, Any]], partitions: int = 4,
               settings: Settings = SETTINGS) -> list[SourceRecord]:
    """Per-type topic, key-hashed partition, increasing offsets per topic-partition."""
    codec = AvroCodec(settings)
    offsets: Counter = Counter()
    out = []
    for n in notifications:
        encoded = codec.encode(n)
        partition = partition_for(encoded.key, partitions)
        out.append(SourceRecord(encoded.topic, partition, offsets[(encoded.topic, partition)],
                                encoded.value, encoded.key))
        offsets[(encoded.topic, partition)] += 1
    return out
