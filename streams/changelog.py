"""The table's rows and their changelog, written once per batch through librdkafka.

Faust writes one changelog record per table assignment through its own aiokafka producer, with
enough Python per record that at ~1 row per event that path alone capped the worker far below its
target (bench/README.md has the profile). Here
the aggregator writes into `ChangelogRows`, which only remembers which rows changed, and
`ChangelogWriter.send` sends each changed row once, with the batch's dead letters; its task ends
when Kafka has them all. Only then may the worker commit the batch's source offsets, so a crash
can lose nothing that was committed: it replays, and the rows' own offsets skip what they hold.

The records are what Faust itself would write (same topic, partition from the key, JSON key and
value, None for a delete), so Faust's table recovery restores them unchanged.
"""

from __future__ import annotations

import asyncio
import json
import json.encoder
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from producers.config import Settings
from producers.exceptions import DeliveryError

from .rows import partition_of

_MISSING = object()


class ChangelogRows(MutableMapping[str, Any]):
    """The table's in-memory rows, noting which keys a batch changed or deleted."""

    def __init__(self, data: Any) -> None:
        self._store = data
        self.changed: dict[str, None] = {}

    @property
    def _rows(self) -> dict[str, Any]:
        # The store's own dict; Faust's recovery writes into the same one.
        return self._store.data  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> Any:
        return self._rows[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._rows.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._rows[key] = value
        self.changed[key] = None

    def __delitem__(self, key: str) -> None:
        del self._rows[key]
        self.changed[key] = None

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def take_changes(self) -> list[tuple[str, Any]]:
        """The changed rows (None for deleted), forgetting them."""
        rows = self._rows
        changes = [(key, rows.get(key)) for key in self.changed]
        self.changed = {}
        return changes


class ChangelogWriteError(DeliveryError, RuntimeError):
    """Kafka refused or timed out changelog or dead-letter records; the batch is not committed."""


class ChangelogWriter:
    def __init__(self, settings: Settings, changelog_topic: str) -> None:
        self.topic = changelog_topic
        self._producer = Producer({
            **settings.librdkafka_config(),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            "batch.num.messages": 10_000,
            # Dedupe-ring rows hold a batch's message ids; they are split well below this.
            "message.max.bytes": 4_000_000,
        })
        self._errors: list[str] = []
        self._pending: asyncio.Task[int] | None = None

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def dead_letter(self, topic: str, key: bytes | None, value: bytes,
                    headers: list[tuple[str, bytes]]) -> None:
        self._produce(topic, key, value, headers=headers)

    def _produce(self, topic: str, key: bytes | None, value: bytes | None, **kwargs: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)

    def send(self, changes: list[tuple[str, Any]]) -> asyncio.Task[int]:
        """Send every changed row behind the previous batch's rows; the task ends when Kafka has
        them and the dead letters (it fails with `ChangelogWriteError` otherwise).

        The rows are serialized now, so later batches cannot change what this one writes, and
        sent only once the previous batch's rows are in: the worker applies the next batch while
        these are on their way, and every batch's rows still reach the log after its
        predecessor's, each flush ending with its one-record batches (see `_write`).
        """
        records = [(partition_of(key), _dumps(key), None if value is None else _dumps(value))
                   for key, value in changes]
        task = asyncio.ensure_future(self._write(self._pending, records))
        self._pending = task
        return task

    async def flush(self, changes: list[tuple[str, Any]]) -> int:
        """`send`, and wait for it."""
        return await self.send(changes)

    async def _write(self, previous: asyncio.Task[int] | None,
                     records: list[tuple[int, bytes, bytes | None]]) -> int:
        if previous is not None:
            await previous  # its failure is this batch's too: nothing after it may be committed
        last: dict[int, tuple[bytes, bytes | None]] = {}
        for partition, key_bytes, value_bytes in records:
            self._produce(self.topic, key_bytes, value_bytes, partition=partition)
            if partition not in last or len(value_bytes or b"") < len(last[partition][1] or b""):
                last[partition] = (key_bytes, value_bytes)
        await self._drain()
        if last:
            # The embedded broker reports a partition's end as the start of its last record
            # batch + 1, and Faust restores a table only up to that end, so rows at the tail of
            # a multi-record batch would be skipped on recovery. Re-sending one row of this
            # flush alone makes the last batch a single record; the row's value is unchanged,
            # so on a Kafka that reports the true end it is a harmless repeat.
            for partition, (key_bytes, value_bytes) in last.items():
                self._produce(self.topic, key_bytes, value_bytes, partition=partition)
            await self._drain()
        return len(records)

    async def _drain(self) -> None:
        remaining = await asyncio.to_thread(self._producer.flush, 60.0)
        while remaining:
            remaining = await asyncio.to_thread(self._producer.flush, 60.0)
        if self._errors:
            errors, self._errors = self._errors, []
            raise ChangelogWriteError(f"{len(errors)} records not written, e.g. {errors[0]}")

    def close(self) -> None:
        self._producer.flush(10.0)


def _row_encoder() -> Callable[[Any], str]:
    """Compact JSON through the stdlib's C encoder, built once.

    `json.dumps` builds that encoder again on every call, which at ~1 row per event was a large
    share of the worker's JSON time. orjson was faster still, but its output buffers, shrunk to
    each small row, fragmented the heap and doubled the worker's RSS with 100,000 projects
    (bench/memory.py; figures in bench/README.md).
    """
    make = json.encoder.c_make_encoder
    slow = json.JSONEncoder(separators=(",", ":")).encode
    if make is None:  # no C accelerator in this interpreter
        return slow
    encoder = make(None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False,
                   False, True)
    join = "".join
    return lambda obj: join(encoder(obj, 0))


_encode = _row_encoder()


def _dumps(obj: Any) -> bytes:
    """Compact JSON, as Faust's json serializer writes and reads it."""
    return _encode(obj).encode()
