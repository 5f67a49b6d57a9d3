"""The Faust application: source topics, the aggregate table, the batching agent, JSON views.

`build()` returns a ready app for one worker; `streams.worker` runs it with the metrics server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.admin import AdminClient
from faust.types import TP

from producers.config import Settings
from producers.deadletter import dead_letter_headers
from producers.exceptions import PartitionMismatch
from producers.kafkalog import Reachability
from producers.liveness import Liveness
from producers.options import StreamOptions
from producers.serde import AvroCodec
from producers.topics import ensure_topics, pipeline_topics

from . import faust_internals
from .aggregates import Aggregator
from .changelog import ChangelogRows, ChangelogWriter
from .ingest import BatchingApp, FetchStamp
from .inventory import Inventory, gauges_of, image_rows_of
from .rows import BUCKET_SECONDS, WINDOWS, Kind, keyed
from .tables import PartitionScopedTable

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """The app and what the worker, the collector and the views need from it."""

    app: faust.App
    table: PartitionScopedTable
    aggregator: Aggregator
    source_topics: list[str]
    settings: Settings
    rows: ChangelogRows | None = None
    writer: ChangelogWriter | None = None
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    #: Next offset per source partition whose rows are durable but not yet committed.
    uncommitted: dict[tuple[str, int], int] = field(default_factory=dict)
    #: Changelog writes not yet harvested, oldest first, with the offsets each makes durable.
    writes: list[tuple[asyncio.Future[int], dict[tuple[str, int], int]]] = field(
        default_factory=list)
    batches: int = 0
    replayed: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: /healthz: the event loop turns and the broker answers the consumer (streams.worker).
    liveness: Liveness = field(default_factory=lambda: Liveness(60.0, ("event loop", "consumer")))
    #: The consumer's outages, as a few log lines (producers.kafkalog.watch_aiokafka).
    reachability: Reachability = field(default_factory=lambda: Reachability("?"))

    def track(self, write: asyncio.Future[int],
              offsets: dict[tuple[str, int], int]) -> asyncio.Future[int] | None:
        """Note a batch's write and the offsets it makes durable; returns the previous write."""
        self._harvest()
        previous = self.writes[-1][0] if self.writes else None
        self.writes.append((write, offsets))
        return previous

    def _harvest(self) -> None:
        """Offsets of completed writes become committable. A failed write raises here: its
        offsets never become committable, and as every later write waits on it, the worker
        stops (and replays from the last commit when it restarts)."""
        while self.writes and self.writes[0][0].done():
            write, offsets = self.writes.pop(0)
            write.result()
            self.uncommitted.update(offsets)

    async def settle(self) -> None:
        """Wait until Kafka has every row applied so far (raises if a write failed)."""
        if self.writes:
            await self.writes[-1][0]
        self._harvest()

    async def commit(self) -> None:
        """Commit the offsets whose rows the changelog already holds."""
        self._harvest()
        offsets, self.uncommitted = self.uncommitted, {}
        if offsets:
            await faust_internals.commit_offsets(self.app.consumer, {
                TP(topic, partition): offset for (topic, partition), offset in offsets.items()})

    def owned_partitions(self) -> set[int]:
        try:
            actives = self.app.assignor.assigned_actives()
        except Exception:  # before the first assignment
            return set()
        return {tp.partition for tp in actives if tp.topic in self.source_topics}

    def ready(self) -> bool:
        return bool(self.owned_partitions()) and not self.app.rebalancing

    def lag(self) -> list[tuple[list[str], float]]:
        samples = []
        consumer = faust_internals.started_consumer(self.app)
        if consumer is None:
            return samples
        for tp in list(self.app.assignor.assigned_actives()):
            if tp.topic not in self.source_topics:
                continue
            high = _highwater(consumer, tp)
            if high is None:
                continue
            done = self.positions.get((tp.topic, tp.partition), -1) + 1
            samples.append(([tp.topic, str(tp.partition)], float(max(0, (high or 0) - done))))
        return samples


def _highwater(consumer: Any, tp: Any) -> int | None:
    try:
        return int(consumer.highwater(tp))
    except Exception as exc:  # not fetched yet, or the partition just moved
        log.debug("no high watermark for %s: %s", tp, exc)
        return None


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip()]


def broker_credentials(settings: Settings) -> Any:
    """The confluent-kafka security settings, as Faust/aiokafka credentials."""
    protocol = settings.security_protocol
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.ssl_ca_location)
        if settings.ssl_certificate_location:
            context.load_cert_chain(
                settings.ssl_certificate_location, settings.ssl_key_location,
                settings.ssl_key_password.get_secret_value() if settings.ssl_key_password else None)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
            mechanism=settings.sasl_mechanism or "PLAIN", ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def source_partitions(settings: Settings, topics: list[str]) -> int:
    """The partition count the table's changelog must share with the source topics."""
    metadata = AdminClient(settings.librdkafka_config()).list_topics(timeout=30)
    counts = {len(metadata.topics[t].partitions) for t in topics if t in metadata.topics}
    if len(counts) > 1:
        raise PartitionMismatch(f"source topics have different partition counts {sorted(counts)}; "
                         "the stream processors need them equal")
    return counts.pop() if counts else 4


def build(settings: Settings, options: StreamOptions) -> Pipeline:
    topics = pipeline_topics(settings)
    ensure_topics(settings, topics)
    partitions = source_partitions(settings, topics)
    liveness = Liveness(settings.liveness_timeout_seconds, ("event loop", "consumer"))
    reachability = Reachability(settings.bootstrap_servers, log)

    def answered() -> None:
        liveness.beat("consumer")
        reachability.answered()

    app = BatchingApp(
        f"{settings.topic_prefix}streams",
        broker=_broker_urls(settings.bootstrap_servers),
        broker_credentials=broker_credentials(settings),
        store="memory://",
        topic_partitions=partitions,
        table_standby_replicas=0,
        broker_session_timeout=options.session_timeout,
        broker_heartbeat_interval=1.0,
        broker_max_poll_records=options.batch_size,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        fetch_wait_ms=options.fetch_wait_ms,
        kafka_answered=answered,
        web_enabled=True,
        web_bind=options.host,
        web_host=options.host,
        web_port=options.web_port,
        # Tables live in memory (changelog-backed); Faust still wants a directory of its own.
        datadir=options.data_dir or tempfile.mkdtemp(prefix="glance-kafka-streams-"),
        autodiscover=False,
    )
    source = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    # Subscribed without an agent: the consumer hands whole fetches to `on_batch` below.
    app.topics.add(source)
    table = PartitionScopedTable(
        app, name="aggregates", default=None, partitions=partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"))
    app.tables.add(table)
    rows = ChangelogRows(table.data)
    writer = ChangelogWriter(settings, table.changelog_topic.get_topic_name())
    aggregator = Aggregator(rows, AvroCodec(settings), dedupe_window=options.dedupe_window,
                            observers=[Inventory(rows)])
    pipeline = Pipeline(app, table, aggregator, topics, settings, rows=rows, writer=writer,
                        liveness=liveness, reachability=reachability)

    async def on_batch(records: list[Any], stamp: FetchStamp) -> None:
        async with pipeline.lock:
            if (app.revocations != stamp.revocations
                    or app.consumer_generation_id != stamp.generation
                    or app.rebalancing or not app.consumer.flow_active):
                # A rebalance came between the fetch and now: the partitions may be moving,
                # and rows written now could land in the changelog after the new owner's. The
                # records must come again, so those still ours are sought back to their
                # committed offsets (where Faust also seeks them when the rebalance ends).
                log.info("a rebalance came between fetch and apply: seeking %d records back",
                         len(records))
                try:
                    await asyncio.wait_for(
                        app.consumer.rewind({(r.topic, r.partition) for r in records}), 30.0)
                except Exception as exc:  # the rebalance's own seek to committed remains
                    log.warning("could not seek back %d records after a rebalance: %r",
                                len(records), exc)
                return
            assigned = app.consumer.assignment()
            batch = [r for r in records if (r.topic, r.partition) in assigned]
            if not batch:
                return
            result = aggregator.apply(batch)
            for record, error in result.dead_letters:
                writer.dead_letter(settings.dlq_topic, record.key, record.value or b"",
                                   dead_letter_headers(
                                       error.reason, error.detail, "stream",
                                       f"{record.topic}/{record.partition}/{record.offset}",
                                       record.headers))
            # One fetch holds each partition's records in offset order: the last one wins.
            offsets = {(r.topic, r.partition): r.offset + 1 for r in batch}
            # The rows go out while the next batch is fetched and applied, so the broker's round
            # trips overlap the work. Only the previous batch's write is waited for, so at most
            # one is ever in flight; offsets become committable when their own batch's write
            # completes (`Pipeline.track`), and a timer commits them.
            previous = pipeline.track(writer.send(rows.take_changes()), offsets)
            # Faust's livelock check reads this clock (its Stream would set it per event); left
            # unset it would log "stream has not started processing" for every partition.
            now = time.monotonic()
            for (topic, partition), offset in offsets.items():
                pipeline.positions[topic, partition] = offset - 1
                app.monitor.stream_inbound_time[TP(topic, partition)] = now
            pipeline.batches += 1
            pipeline.replayed += result.replayed
            if previous is not None:
                await previous  # a failed write stops the worker; nothing after it is committed

    app.batch_handler = on_batch
    app.batch_topics = frozenset(topics)

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        # Waits for a batch in flight: its rows are in the changelog before the partitions move.
        # No commit here: one issued while the group rebalances can wait on the rebalance that
        # waits on this handler (a worker hung so in a test). The new owner replays whatever
        # was not committed, and the rows' offsets skip what they already hold.
        async with pipeline.lock:
            app.revocations += 1
            await pipeline.settle()
            aggregator.forget()

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: Any, **kwargs: Any) -> None:
        aggregator.forget()

    @app.timer(interval=1.0)
    async def heartbeat() -> None:
        liveness.beat("event loop")
        _wedge_if_asked()

    @app.timer(interval=options.commit_seconds)
    async def commit_offsets() -> None:
        if not app.rebalancing:
            await pipeline.commit()

    @app.timer(interval=300.0)
    async def expire_windows() -> None:
        owned = pipeline.owned_partitions()
        async with pipeline.lock:
            removed = aggregator.expire_windows(owned_partitions=owned)
            await writer.flush(rows.take_changes())
        if removed:
            log.info("expired %d window buckets", removed)

    @app.page("/projects/{project}/")
    async def project_view(web: Any, request: Any, project: str) -> Any:
        return web.json(project_summary(pipeline, project))

    @app.page("/totals/")
    async def totals_view(web: Any, request: Any) -> Any:
        from .collector import totals

        sums = totals(table.rows(), pipeline.owned_partitions().__contains__)
        return web.json({name: [{"labels": list(k), "value": v} for k, v in sorted(series.items())]
                         for name, series in sums.items()})

    return pipeline


def _wedge_if_asked() -> None:
    """Tests only: block the event loop while the file GLANCE_KAFKA_TEST_WEDGE_FILE exists,
    the way a CPU-bound bug or a blocking call would, to see /healthz notice."""
    path = os.environ.get("GLANCE_KAFKA_TEST_WEDGE_FILE")
    while path and os.path.exists(path):
        time.sleep(0.1)  # noqa: ASYNC251 - blocking the loop is the point


def project_summary(pipeline: Pipeline, project: str, now: float | None = None) -> dict[str, Any]:
    """One project's totals and its last hour in 5-minute buckets, from this worker's partitions."""
    owned = pipeline.owned_partitions()
    now = now or time.time()
    since = now - 3600
    rows = keyed(pipeline.table.rows(), owned.__contains__)
    inventory = gauges_of(rows)
    out: dict[str, Any] = {
        "project": project, "partitions": sorted(owned), "bucket_seconds": BUCKET_SECONDS,
        "images_by_status": {status: n for (p, status), n in
                             inventory["glance_project_images"].items() if p == project},
        "stored_bytes": inventory["glance_project_stored_bytes"].get((project,), 0),
        "staged_bytes": inventory["glance_project_staged_bytes"].get((project,), 0),
        "stored_bytes_by_disk_format": {
            fmt: n for (p, fmt), n in inventory["glance_project_stored_bytes_by_disk_format"].items()
            if p == project},
        "images": image_rows_of(rows, project),
        "served_bytes": {}, "downloaded_bytes": {}, "task_failures": {},
        "last_hour": {"served_bytes": 0, "downloaded_bytes": 0, "buckets": {}},
    }
    bytes_of = {Kind.SERVED: "served_bytes", Kind.DOWNLOADED: "downloaded_bytes",
                Kind.WIN_SERVED: "served_bytes", Kind.WIN_DOWNLOADED: "downloaded_bytes"}
    for key, value in rows:
        kind, labels = key.kind, key.labels
        if kind in (Kind.SERVED, Kind.DOWNLOADED) and labels[0] == project:
            target = out[bytes_of[kind]]
            target[labels[1]] = target.get(labels[1], 0) + value[0]
        elif kind is Kind.TASK_FAILURES and labels[1] == project:
            out["task_failures"][labels[0]] = out["task_failures"].get(labels[0], 0) + value[0]
        elif kind in WINDOWS and labels[0] == project:
            start = int(labels[WINDOWS[kind]])
            if start + BUCKET_SECONDS > since:
                name = bytes_of[kind]
                out["last_hour"][name] += value[0]
                bucket = out["last_hour"]["buckets"].setdefault(str(start), {})
                bucket[name] = bucket.get(name, 0) + value[0]
    return out
