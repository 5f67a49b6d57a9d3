"""The Faust application: source topics, the aggregate table, the batching agent, JSON views.

`build()` returns a ready app for one worker; `streams.worker` runs it with the metrics server.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.admin import AdminClient

from producers.config import Settings
from producers.contract import DOCUMENTED_TYPES
from producers.deadletter import dead_letter_headers
from producers.serde import AvroCodec
from producers.topics import ensure_topics

from .aggregates import BUCKET_SECONDS, Aggregator, SourceRecord, partition_of, split_key
from .inventory import Inventory, image_rows_of, project_gauges
from .tables import PartitionScopedTable

log = logging.getLogger(__name__)


@dataclass
class StreamOptions:
    host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str | None = None
    batch_size: int = 2000
    batch_seconds: float = 0.2
    dedupe_window: int = 100_000
    session_timeout: float = 6.0
    project_label_limit: int = 1000


@dataclass
class Pipeline:
    """The app and what the worker, the collector and the views need from it."""

    app: faust.App
    table: PartitionScopedTable
    aggregator: Aggregator
    source_topics: list[str]
    settings: Settings
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    batches: int = 0
    replayed: int = 0

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
        consumer = getattr(self.app, "_consumer", None)
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


def _headers(headers: Any) -> list[tuple[str, bytes]] | None:
    if not headers:
        return None
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


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
        raise ValueError(f"source topics have different partition counts {sorted(counts)}; "
                         "the stream processors need them equal")
    return counts.pop() if counts else 4


def build(settings: Settings, options: StreamOptions) -> Pipeline:
    topics = [settings.topic(t) for t in DOCUMENTED_TYPES] + [settings.other_topic,
                                                              settings.dlq_topic]
    ensure_topics(settings, topics)
    partitions = source_partitions(settings, topics)
    app = faust.App(
        f"{settings.topic_prefix}streams",
        broker=_broker_urls(settings.bootstrap_servers),
        broker_credentials=broker_credentials(settings),
        store="memory://",
        topic_partitions=partitions,
        table_standby_replicas=0,
        broker_session_timeout=options.session_timeout,
        broker_heartbeat_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # One record per produce batch: Faust's table recovery reads a changelog up to the
        # partition's high watermark, and the embedded broker reports that as the start of the
        # last batch + 1, so rows at the end of a multi-record batch were lost on restore (a
        # rebalance test under-counted one download). Kafka itself reports the true end.
        producer_max_batch_size=1,
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
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    table = PartitionScopedTable(
        app, name="aggregates", default=None, partitions=partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"))
    app.tables.add(table)
    aggregator = Aggregator(table, AvroCodec(settings), dedupe_window=options.dedupe_window,
                            observers=[Inventory(table)])
    pipeline = Pipeline(app, table, aggregator, topics, settings)

    @app.agent(source, name="aggregate")
    async def aggregate(stream: faust.StreamT) -> None:
        async for events in stream.take_events(options.batch_size, within=options.batch_seconds):
            records = [SourceRecord(e.message.topic, e.message.partition, e.message.offset,
                                    e.message.value, e.message.key, _headers(e.message.headers))
                       for e in events]
            result = aggregator.apply(records)
            for record in records:
                pipeline.positions[(record.topic, record.partition)] = record.offset
            for record, error in result.dead_letters:
                await dlq.send(key=record.key, value=record.value or b"", headers=dead_letter_headers(
                    error.reason, error.detail, "stream",
                    f"{record.topic}/{record.partition}/{record.offset}", record.headers))
            pipeline.batches += 1
            pipeline.replayed += result.replayed

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        aggregator.forget()

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: Any, **kwargs: Any) -> None:
        aggregator.forget()

    @app.timer(interval=300.0)
    async def expire_windows() -> None:
        owned = pipeline.owned_partitions()
        removed = aggregator.expire_windows(owned_partitions=owned)
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


def project_summary(pipeline: Pipeline, project: str, now: float | None = None) -> dict[str, Any]:
    """One project's totals and its last hour in 5-minute buckets, from this worker's partitions."""
    owned = pipeline.owned_partitions()
    now = now or time.time()
    since = now - 3600
    rows = pipeline.table.rows()
    inventory = project_gauges(rows, owned.__contains__)
    out: dict[str, Any] = {
        "project": project, "partitions": sorted(owned), "bucket_seconds": BUCKET_SECONDS,
        "images_by_status": {status: n for (p, status), n in
                             inventory["glance_project_images"].items() if p == project},
        "stored_bytes": inventory["glance_project_stored_bytes"].get((project,), 0),
        "stored_bytes_by_disk_format": {
            fmt: n for (p, fmt), n in inventory["glance_project_stored_bytes_by_disk_format"].items()
            if p == project},
        "images": image_rows_of(((k, v) for k, v in rows if partition_of(k) in owned), project),
        "served_bytes": {}, "downloaded_bytes": {}, "task_failures": {},
        "last_hour": {"served_bytes": 0, "downloaded_bytes": 0, "buckets": {}},
    }
    for key, value in rows:
        if partition_of(key) not in owned:
            continue
        kind, *labels = split_key(key)
        if kind in ("served", "downloaded") and labels[0] == project:
            target = out[f"{kind}_bytes"]
            target[labels[1]] = target.get(labels[1], 0) + value[0]
        elif kind == "task_failures" and labels[1] == project:
            out["task_failures"][labels[0]] = out["task_failures"].get(labels[0], 0) + value[0]
        elif kind in ("win_served", "win_downloaded") and labels[0] == project:
            start = int(labels[1])
            if start + BUCKET_SECONDS > since:
                name = "served_bytes" if kind == "win_served" else "downloaded_bytes"
                out["last_hour"][name] += value[0]
                bucket = out["last_hour"]["buckets"].setdefault(str(start), {})
                bucket[name] = bucket.get(name, 0) + value[0]
    return out
