"""Exact, idempotent aggregation of Glance records into table rows.

Every row is partition-scoped (its key starts with the source partition, `p3|...`) so it moves
with that partition on a rebalance, and carries, in the same value, the highest source offset per
topic already applied to it: `[total, {topic: offset}]`. A record replayed after a crash or a
rebalance (at-least-once delivery) is skipped by every row that already holds it, and applied to
the rows whose write was lost, so totals stay exact without Kafka transactions.

Duplicates (the same message_id at a different offset, e.g. a bridge retry) are recognised with
a ring of recent message ids kept in the same table, in one row per batch and partition.

Dead letters are counted from the dead-letter topic itself (reason from its header), so the
metric covers every producer of dead letters (publisher, bridge, driver, this worker) once.

What a record adds to which row is `streams.rows.RULES`, compiled by `streams.rowplan`.

The table is any MutableMapping; the worker passes `streams.changelog.ChangelogRows` over its
Faust table's store, so a batch costs one changelog record per row it touched, not one per event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from producers.exceptions import InvalidNotification
from producers.serde import AvroCodec

from .rowplan import Plans
from .rows import WINDOWS, Fate, Kind, RowKey, key_text, kind_tokens

WINDOW_RETENTION_SECONDS = 24 * 3600


class KafkaRecord(Protocol):
    """What the aggregator reads of a record: aiokafka's `ConsumerRecord` as fetched, or a
    `SourceRecord`. The worker passes aiokafka's own: a copy per record was a measurable share of
    the hot loop (bench/README.md)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]] | None: ...


class Observer(Protocol):
    """Another view kept from the same decoded, de-duplicated records (e.g. the inventory)."""

    def observe(self, rec: KafkaRecord, record: dict[str, Any], event_type: str) -> None: ...

    def flush(self) -> int:
        """Write what the batch changed; returns the number of rows written."""
        ...


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as read from Kafka (tests, tools)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class BatchResult:
    applied: int = 0
    replayed: int = 0
    duplicates: int = 0
    #: Records this batch found undecodable, for the caller to write to the dead-letter topic.
    #: They are counted when they come back from that topic, like every other dead letter.
    dead_letters: list[tuple[KafkaRecord, InvalidNotification]] = field(default_factory=list)
    rows_written: int = 0


class Aggregator:
    """Applies batches of source records to a table of rows, exactly once per record."""

    def __init__(self, table: MutableMapping[str, Any], codec: AvroCodec, *,
                 dedupe_window: int = 100_000, observers: Sequence[Observer] = ()) -> None:
        self.table = table
        self.codec = codec
        self.dedupe_window = dedupe_window
        self.observers = tuple(observers)
        self._event_types = {
            settings_topic: suffix for suffix, settings_topic in self._topics().items()}
        # message_id -> (topic, offset) where first seen, per partition; rebuilt from the table.
        self._seen: dict[int, dict[str, tuple[str, int]]] = {}
        self._ring: dict[int, list[tuple[int, int]]] = {}  # partition -> [(seq, size)]
        # streams.rows.RULES compiled, once, for every event type this worker's topics carry.
        self._plans = Plans(self._event_types.values())

    def _topics(self) -> dict[str, str]:
        from producers.topics import event_topics

        return event_topics(self.codec.settings)

    def event_type_of(self, topic: str, record: dict[str, Any]) -> str:
        return record.get("event_type") or self._event_types.get(topic, "other")

    # -- dedupe ring --------------------------------------------------------------------------

    def forget(self) -> None:
        """Drop in-memory indexes; called on every rebalance, rebuilt lazily from the table."""
        self._seen.clear()
        self._ring.clear()

    def _index(self, partition: int) -> dict[str, tuple[str, int]]:
        seen = self._seen.get(partition)
        if seen is None:
            seen, ring = {}, []
            prefix = RowKey.prefix(partition, Kind.SEEN)
            for key, value in list(self.table.items()):
                if isinstance(key, str) and key.startswith(prefix):
                    seq = int(key[len(prefix):])
                    ring.append((seq, len(value)))
                    for message_id, (topic, offset) in value.items():
                        seen[message_id] = (topic, offset)
            ring.sort()
            self._seen[partition] = seen
            self._ring[partition] = ring
        return seen

    def _remember(self, partition: int, batch_ids: dict[str, tuple[str, int]]) -> int:
        ring = self._ring[partition]
        seq = ring[-1][0] + 1 if ring else 0
        self.table[key_text(partition, Kind.SEEN, str(seq))] = {
            k: [t, o] for k, (t, o) in batch_ids.items()}
        ring.append((seq, len(batch_ids)))
        writes = 1
        total = sum(size for _, size in ring)
        while ring and total - ring[0][1] >= self.dedupe_window:
            old_seq, size = ring.pop(0)
            key = key_text(partition, Kind.SEEN, str(old_seq))
            old = self.table.get(key) or {}
            seen = self._seen[partition]
            for message_id in old:
                if seen.get(message_id) == tuple(old[message_id]):
                    del seen[message_id]
            del self.table[key]
            total -= size
            writes += 1
        return writes

    # -- batches ------------------------------------------------------------------------------

    def apply(self, records: Iterable[KafkaRecord]) -> BatchResult:
        result = BatchResult()
        table = self.table
        # Per row touched by this batch: the row as read, and the per-topic offsets it holds
        # (what it held, plus what this batch applied to it); the latter becomes its new value.
        rows: dict[str, Any] = {}
        stored: dict[str, dict[str, int]] = {}
        # Rows this batch adds to, in the order first added to (their write order), and by how much.
        deltas: dict[str, int] = {}
        new_ids: dict[int, dict[str, tuple[str, int]]] = {}

        dlq_topic = self.codec.settings.dlq_topic
        decode = self.codec.decode_record
        event_types = self._event_types
        observers = self.observers
        seen_by_partition = self._seen
        prefixes: dict[int, str] = {}
        plans = self._plans
        by_event = plans.by_event
        dead_letter = plans.fates[Fate.DEAD_LETTER]
        duplicate = plans.fates[Fate.DUPLICATE]
        undecodable = plans.fates[Fate.UNDECODABLE]
        for rec in records:
            topic = rec.topic
            partition = rec.partition
            offset = rec.offset
            prefix = prefixes.get(partition)
            if prefix is None:
                prefix = prefixes[partition] = f"p{partition}|"
            # What the record adds to (its fate's rows, or its event's), and what it counts as.
            fate = None
            if topic == dlq_topic:
                fate = Fate.DEAD_LETTER
                keys, amounts = dead_letter(rec, None, "", prefix)
            else:
                try:
                    if rec.value is None:
                        raise InvalidNotification("empty_record", "record has no value")
                    record, _ = decode(rec.value)
                except InvalidNotification as exc:
                    fate, error = Fate.UNDECODABLE, exc
                    keys, amounts = undecodable(rec, None, "", prefix)
                else:
                    seen = seen_by_partition.get(partition)
                    if seen is None:
                        seen = self._index(partition)
                    message_id = record["message_id"]
                    first = seen.get(message_id)
                    if first is not None and first != (topic, offset):
                        fate = Fate.DUPLICATE
                        keys, amounts = duplicate(rec, None, "", prefix)
                    else:
                        if first is None:
                            origin = seen[message_id] = (topic, offset)
                            ids = new_ids.get(partition)
                            if ids is None:
                                ids = new_ids[partition] = {}
                            ids[message_id] = origin
                        event_type = record.get("event_type") or event_types.get(topic, "other")
                        for observer in observers:
                            observer.observe(rec, record, event_type)
                        plan = by_event.get(event_type)
                        if plan is None:
                            plan = plans.for_event(event_type)
                        keys, amounts = plan(rec, record, event_type, prefix)
            # Each row once per (topic, offset): a replayed record adds nothing. Also seen by the
            # rest of this batch: after a rebalance the consumer can hand the same record over
            # twice within one batch.
            applied = False
            for key, amount in zip(keys, amounts, strict=True):
                done = stored.get(key)
                if done is None:
                    row = rows[key] = table.get(key)
                    done = stored[key] = dict(row[1]) if row else {}
                if offset > done.get(topic, -1):
                    done[topic] = offset
                    deltas[key] = deltas.get(key, 0) + amount
                    applied = True
            if fate is None:
                if applied:
                    result.applied += 1
                else:
                    result.replayed += 1
            elif applied:
                if fate is Fate.DEAD_LETTER:
                    result.applied += 1
                elif fate is Fate.UNDECODABLE:
                    result.dead_letters.append((rec, error))
                else:
                    result.duplicates += 1

        for key, delta in deltas.items():
            row = rows[key]
            table[key] = [(row[0] if row else 0) + delta, stored[key]]
        result.rows_written += len(deltas)
        for partition, ids in new_ids.items():
            result.rows_written += self._remember(partition, ids)
        for observer in observers:
            result.rows_written += observer.flush()
        return result

    def expire_windows(self, now: float | None = None,
                       owned_partitions: set[int] | None = None) -> int:
        """Delete window buckets older than the retention; returns how many."""
        horizon = (now or time.time()) - WINDOW_RETENTION_SECONDS
        stale = []
        windows = kind_tokens(*WINDOWS)
        for text in list(self.table.keys()):
            if (type(text) is not str or not text.startswith(windows, text.find("|") + 1)
                    or (key := RowKey.parse(text)) is None):
                continue
            if int(key.labels[WINDOWS[key.kind]]) < horizon and (
                    owned_partitions is None or key.partition in owned_partitions):
                stale.append(text)
        for text in stale:
            del self.table[text]
        return len(stale)
