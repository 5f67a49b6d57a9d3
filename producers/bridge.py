"""Bridge: oslo.messaging's stock Kafka driver topics in, typed Avro per-type topics out.

Existing clouds already write every service's notifications, JSON in the oslo wire envelope, to
`notifications.<priority>[.<vhost>]`, unkeyed. The bridge keeps Glance's (publisher_id image.*),
republishes them through the Publisher, and commits a batch's offsets only once every record of
the batch is delivered (or dead-lettered), so a crash at any point loses nothing: at-least-once,
with duplicates carrying the same message_id for the stream processors to skip.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from prometheus_client import CollectorRegistry

from .config import Settings
from .exceptions import DeliveryError
from .forward import Forwarder
from .kafkalog import FoldRepeats
from .liveness import Liveness, librdkafka_answers
from .publisher import Publisher

log = logging.getLogger(__name__)
log.addFilter(FoldRepeats())

DEFAULT_SOURCE_TOPICS = ("notifications.info", "notifications.warn", "notifications.error")
CONSUMER_DEFAULTS = {
    "enable.auto.commit": "false",
    "auto.offset.reset": "earliest",
    # The embedded broker makes a first join wait half the session timeout; 6 s is Kafka's minimum.
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "1000",
    # oslo.messaging creates notifications.warn/.error on their first message, often long after
    # the bridge started; a subscription only sees a new topic at a metadata refresh (librdkafka
    # default: every 5 minutes).
    "topic.metadata.refresh.interval.ms": "10000",
}
#: Room left for the dead-letter headers (reason, detail, source, origin) under max_message_bytes.
@dataclass(frozen=True)
class BridgeOptions:
    source_topics: tuple[str, ...] = DEFAULT_SOURCE_TOPICS
    group_id: str = "glance-kafka-bridge"
    publisher_prefix: str = "image."
    batch_size: int = 1000
    source_bootstrap_servers: str | None = None


class Bridge:
    def __init__(self, settings: Settings, options: BridgeOptions | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.options = options or BridgeOptions()
        self.publisher = Publisher(settings, source="bridge")
        consumer_conf: dict[str, Any] = dict(CONSUMER_DEFAULTS)
        consumer_conf.update(settings.librdkafka_config())
        if self.options.source_bootstrap_servers:
            consumer_conf["bootstrap.servers"] = self.options.source_bootstrap_servers
        consumer_conf["group.id"] = self.options.group_id
        #: /healthz: the poll loop turns, and the source cluster answers the consumer's requests.
        self.liveness = Liveness(settings.liveness_timeout_seconds, ("poll loop", "consumer"))
        consumer_conf["statistics.interval.ms"] = int(
            min(5.0, max(0.5, settings.liveness_timeout_seconds / 4)) * 1000)
        # One cluster: one account of its outages, ended by the consumer's answers too.
        shared = None if self.options.source_bootstrap_servers else self.publisher.reachability
        if shared is not None:
            consumer_conf["error_cb"] = shared.on_error

        def answered() -> None:
            self.liveness.beat("consumer")
            if shared is not None:
                shared.answered()

        consumer_conf["stats_cb"] = librdkafka_answers(answered)
        self.consumer = Consumer(consumer_conf)
        self.stopping = threading.Event()
        self._stop_deadline: float | None = None
        self.assigned = False
        self.forwarder = Forwarder(self.publisher, self.options.publisher_prefix, registry)
        self.records = self.forwarder.records

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = True
        log.info("bridge assigned %d partitions", len(partitions))

    def run(self) -> None:
        """Bridge until stop() (or SIGTERM via the CLI); commits after each delivered batch."""
        self.consumer.subscribe(list(self.options.source_topics), on_assign=self._on_assign)
        try:
            while not self.stopping.is_set():
                batch = self.consumer.consume(self.options.batch_size, timeout=0.5)
                if batch:
                    self._process(batch)
                self.liveness.beat("poll loop")
        finally:
            left = self.publisher.producer.flush(self._grace_left())
            if left:
                log.warning("stopped with %d records not delivered: their offsets are not "
                            "committed, so they are read again at the next start", left)
            self.consumer.close()

    def healthy(self) -> bool:
        return self.liveness.healthy()

    def stop(self) -> None:
        """Stop after the batch in flight, waiting for its delivery for the grace period at most."""
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        self.stopping.set()

    def _grace_left(self) -> float:
        if self._stop_deadline is None:
            return self.settings.shutdown_grace_seconds
        return max(0.0, self._stop_deadline - time.monotonic())

    def _flush(self) -> None:
        """publisher.flush() in slices, so a stop ends the wait when the grace period ends."""
        producer = self.publisher.producer
        while producer.flush(0.5 if not self.stopping.is_set() else min(0.5, self._grace_left())):
            if self.stopping.is_set() and not self._grace_left():
                raise DeliveryError(f"stopped with {len(producer)} records not delivered")
        self.publisher.flush(0)  # raises for records that failed

    def _process(self, batch: list[Message]) -> None:
        offsets: dict[tuple[str, int], int] = {}
        for msg in batch:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    # oslo.messaging creates notifications.warn/.error with their first message
                    log.info("source topic not there yet: %s", err.str())
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning("source error: %s", err.str())
                continue
            self._forward(msg)
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
        # Commit only what is delivered: a DeliveryError leaves the batch uncommitted, to be
        # read again by whoever owns the partitions next.
        self._flush()
        if offsets:
            self.consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False)

    def _forward(self, msg: Message) -> None:
        self.forwarder.forward(msg.value() or b"", key=msg.key(), headers=msg.headers(),
                               origin=f"{msg.topic()}/{msg.partition()}/{msg.offset()}")
