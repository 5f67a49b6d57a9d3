"""Faust's aiokafka consumer, handing each fetch to the pipeline as one batch.

Faust delivers records one at a time: conductor, channel queue, `Stream`, event, ack. Measured
here that path alone caps a worker at ~9k events/s, whatever the agent does with them. The
aggregates are computed per batch anyway (one table write per touched row), so this consumer
keeps everything else of Faust (group membership, the partition assignor that co-partitions the
table, table recovery and standbys, flow control during rebalances, the web views) and replaces
only the per-record delivery of the source topics: each fetch goes to `App.batch_handler` as one
list of aiokafka `ConsumerRecord`s, whose offsets are committed only once its rows are durable.
Other topics (the table's changelog, read during recovery) still go through Faust's own path.
The Faust internals this takes over are all in streams.faust_internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import aiokafka

from .faust_internals import (
    Fetch,
    HookedApp,
    HookedConsumer,
    on_consumer_thread,
    on_every_response,
    set_fetch_wait,
)


class FetchStamp(NamedTuple):
    """What the group looked like when a fetch returned; a batch is stale if either moved."""

    revocations: int
    generation: int


BatchHandler = Callable[[list[Any], FetchStamp], Awaitable[None]]


class BatchConsumer(HookedConsumer):
    def worker_consumer_built(self, consumer: aiokafka.AIOKafkaConsumer) -> None:
        app = self.app
        # Faust hard-codes a 1.5 s long poll. A real Kafka answers a waiting fetch as soon as data
        # arrives, the embedded broker only when the wait expires, so at low rates every record
        # waited up to 1.5 s there.
        set_fetch_wait(consumer, app.fetch_wait_ms)  # type: ignore[attr-defined]
        # /healthz tells a consumer the broker no longer answers from an idle one, whose long
        # polls are answered every fetch_wait_ms.
        on_every_response(consumer, app.kafka_answered)  # type: ignore[attr-defined]

    async def fetch_loop(self, fetch: Fetch) -> None:
        """Faust's fetch loop, with one handler call per fetch of the source topics.

        Everything else a fetch holds (the table's changelog, read during recovery) is delivered
        exactly as Faust's own loop does: only while the flow is active and the generation is the
        one seen when the fetch returned. Deciding that before the fetch instead dropped
        changelog records fetched across a rebalance, after recovery had sought to them; recovery
        then waited forever for offsets the consumer had already passed.
        """
        app = self.app
        handler: BatchHandler = app.batch_handler  # type: ignore[attr-defined]
        batch_topics: frozenset[str] = app.batch_topics  # type: ignore[attr-defined]
        callback = self.callback
        to_message = fetch.to_message
        ended = fetch.ended
        next_records = fetch.next_records
        try:
            while not ended():
                revocations = app.revocations  # type: ignore[attr-defined]
                records, active = await next_records(1.0)
                if not records or self.should_stop:
                    continue
                generation = app.consumer_generation_id
                if not self.flow_active:
                    # A rebalance stopped the flow while fetching. As in Faust's loop: seek back
                    # to the committed offsets, so that what this fetch held comes again.
                    await self.perform_seek()
                    continue
                buffered = fetch.buffered
                batch: list[Any] = []
                for tp, tp_records in records.items():
                    if not (active is None or tp in active or tp in buffered):
                        continue
                    if tp.topic in batch_topics:
                        batch.extend(tp_records)
                        continue
                    for record in tp_records:
                        if not self.flow_active or app.consumer_generation_id != generation:
                            break
                        await self.wait_first(callback(to_message(tp, record)),
                                              self.suspend_flow.wait())
                if batch:
                    # Shielded: Faust cancels the fetcher on shutdown, and a batch stopped
                    # between its table writes and their flush would leave rows half written.
                    # The revocation handler waits for it (Pipeline.lock), then for its rows.
                    await asyncio.shield(handler(batch, FetchStamp(revocations, generation)))
        except self.consumer_stopped_errors:
            if not app.should_stop:
                raise

    async def rewind(self, partitions: set[tuple[str, int]]) -> None:
        """Seek source partitions still assigned back to their committed offsets.

        For records fetched but not applied (a rebalance came between): nothing before the
        committed offset is unapplied, and the rows skip what they already hold, so this never
        loses a record and at worst replays a few.
        """
        await on_consumer_thread(self, _rewind, {aiokafka.TopicPartition(t, p)
                                                 for t, p in partitions})


async def _rewind(consumer: aiokafka.AIOKafkaConsumer,
                  partitions: set[aiokafka.TopicPartition]) -> None:
    # Runs on the consumer's own thread; aiokafka is not thread-safe.
    for tp in partitions & consumer.assignment():
        offset = await consumer.committed(tp)
        if offset is not None and offset >= 0:
            consumer.seek(tp, offset)
        else:  # nothing committed yet: where a new member would start (auto_offset_reset)
            await consumer.seek_to_beginning(tp)


class BatchingApp(HookedApp):
    """A Faust app whose consumer hands whole fetches of `batch_topics` to `batch_handler`."""

    consumer_class = BatchConsumer
    batch_handler: BatchHandler
    batch_topics: frozenset[str] = frozenset()
    #: Incremented by the pipeline under its lock on every revocation; a batch fetched before one
    #: is not applied but sought back (see streams.app).
    revocations: int = 0
    fetch_wait_ms: int

    def __init__(self, *args: Any, fetch_wait_ms: int = 100,
                 kafka_answered: Callable[[], None] = lambda: None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_wait_ms = fetch_wait_ms
        #: Called (on the consumer's thread) whenever the broker answers the consumer.
        self.kafka_answered = kafka_answered
