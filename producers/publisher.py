"""The publishing library: validate, encode as Avro, produce to the per-type topic.

A notification is either delivered to its topic or written to the dead-letter topic with a reason;
the caller hears about both (return value, exception, counters). Nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from .config import Settings
from .deadletter import (
    ORIGINAL_SHA256,
    ORIGINAL_SIZE,
    Headers,
    dead_letter_headers,
    original_bytes,
)
from .exceptions import DeliveryError, InvalidNotification, QueueFull
from .kafkalog import FoldRepeats, Reachability
from .serde import AvroCodec, Encoded

log = logging.getLogger(__name__)
# 100,000 records timing out together are one line and a count, not 100,000 lines.
log.addFilter(FoldRepeats())

#: Room left in a dead-letter record for its headers (reason, detail, origin, ...).
DLQ_HEADROOM = 16_384

#: Called once per record when the broker has (or has definitely not) taken it.
DeliveryCallback = Callable[[KafkaError | None, Message], None]

_PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)

#: Producer settings that make delivery safe; user -X settings may tune the rest.
SAFE_PRODUCER_DEFAULTS = {
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "5",
    "compression.type": "lz4",
    # Bounded local buffer: publish() blocks when it is full (see buffer_full_timeout).
    "queue.buffering.max.messages": "100000",
    "queue.buffering.max.kbytes": "262144",
    # Keep retrying through broker outages for 5 minutes before reporting a failure.
    "message.timeout.ms": "300000",
}


@dataclass
class PublishStats:
    """What happened to everything handed to the publisher."""

    accepted: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    failed: int = 0
    dead_letters_by_reason: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        return self.accepted - self.delivered - self.failed


class Publisher:
    """Publishes Glance notifications as Avro records, keyed by image or task id.

    `publish()` takes a notification dict (as Glance's notifier builds it), its JSON text or
    bytes, or an oslo.messaging wire envelope. Bad input is dead-lettered and re-raised as
    InvalidNotification. Delivery is asynchronous: `flush()`/`close()` wait for it, and raise
    DeliveryError if any record could not be delivered.
    """

    def __init__(self, settings: Settings, *, codec: AvroCodec | None = None,
                 source: str = "publish", on_delivery: DeliveryCallback | None = None,
                 buffer_full_timeout: float = 300.0,
                 producer_config: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.codec = codec or AvroCodec(settings)
        self.source = source
        self.stats = PublishStats()
        self.buffer_full_timeout = buffer_full_timeout
        self._user_callback = on_delivery
        self._lock = threading.Lock()
        self._unreported: list[str] = []
        #: Set when a record found no room within buffer_full_timeout; until one is taken again,
        #: the next ones are refused without waiting (no caller waits the bound over and over).
        self._full = False
        conf: dict[str, Any] = dict(SAFE_PRODUCER_DEFAULTS)
        conf.update(producer_config or {})
        conf.update(settings.librdkafka_config())
        #: Connection failures as one outage ("cannot reach", "still unreachable after 60 s",
        #: "reached again"), whoever runs the publisher: the CLI, the bridge, Glance's driver.
        self.reachability = Reachability(settings.bootstrap_servers, log)
        conf["error_cb"] = self.reachability.on_error
        # One bound delivery callback for every record produced without a callback of its own
        # (librdkafka calls it from poll()/flush(), as it would a per-record one).
        conf["on_delivery"] = self._on_delivery
        self.producer = Producer(conf)
        self._send = self.producer.produce
        self._poll = self.producer.poll

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, raw: bytes | str | dict[str, Any], *, original: bytes | None = None,
                origin: str | None = None, original_headers: Headers | None = None,
                on_delivery: DeliveryCallback | None = None) -> Encoded:
        """Encode and produce one notification; dead-letters and raises on bad input.

        `original` (the bytes as received, when `raw` was already parsed), `origin` (where they
        were read from) and `original_headers` (the Kafka headers they came with) go into the
        dead-letter record if it comes to that, so it can be replayed as it was.
        """
        try:
            encoded = self.codec.encode(raw)
            self._produce(encoded.topic, encoded.value, encoded.key, None, on_delivery)
        except InvalidNotification as exc:
            exc.original = original if original is not None else original_bytes(raw)
            self.dead_letter(exc.original, exc.reason, exc.detail, origin=origin,
                             headers=original_headers, on_delivery=on_delivery)
            raise
        return encoded

    def dead_letter(self, original: bytes, reason: str, detail: str, *, key: bytes | None = None,
                    origin: str | None = None, headers: Headers | None = None,
                    on_delivery: DeliveryCallback | None = None) -> None:
        """Write `original` to the dead-letter topic, with why and where from.

        Unchanged, unless it is too large for Kafka: then its first bytes are kept, and headers
        say its full size and SHA-256, so a dead letter can always be written and never stops
        whoever writes it (a bridge would otherwise fail on the same record after every restart).
        """
        extra: Headers = list(headers or [])
        limit = self.settings.max_message_bytes - DLQ_HEADROOM
        if len(original) > limit:
            extra += [(ORIGINAL_SIZE, str(len(original)).encode()),
                      (ORIGINAL_SHA256, hashlib.sha256(original).hexdigest().encode())]
            detail = f"{detail} [truncated: first {limit} of {len(original)} bytes kept]"
            original = original[:limit]
        self._produce(self.settings.dlq_topic, original, key,
                      dead_letter_headers(reason, detail, self.source, origin, extra),
                      on_delivery)
        with self._lock:
            self.stats.dead_lettered += 1
            self.stats.dead_letters_by_reason[reason] += 1
        log.info("dead-lettered (%s): %s", reason, detail)

    def _produce(self, topic: str, value: bytes, key: bytes | None, headers: Headers | None,
                 on_delivery: DeliveryCallback | None) -> None:
        """Hand one record to librdkafka; counted as accepted only once it took it."""
        report: DeliveryCallback | None = None
        try:
            if on_delivery is None and headers is None:
                self._send(topic, value, key)  # delivery reported to the producer's _on_delivery
            else:
                if on_delivery is not None:
                    report = self._reporter(on_delivery)
                self._send(topic, value, key, headers=headers, on_delivery=report)
        except BufferError:
            self._produce_when_room(topic, value, key, headers, report)
        except KafkaException as exc:
            self._refused(topic, value, exc)
        self._full = False
        with self._lock:
            self.stats.accepted += 1
        self._poll(0)

    def _reporter(self, on_delivery: DeliveryCallback) -> DeliveryCallback:
        def report(err: KafkaError | None, msg: Message) -> None:
            self._on_delivery(err, msg)
            on_delivery(err, msg)

        return report

    def _produce_when_room(self, topic: str, value: bytes, key: bytes | None,
                           headers: Headers | None, report: DeliveryCallback | None) -> None:
        """The local queue is full (broker slow or away): wait for room, at most
        buffer_full_timeout, then refuse (QueueFull), never drop."""
        deadline = time.monotonic() + (0.0 if self._full else self.buffer_full_timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._full = True
                raise QueueFull(
                    f"local producer queue stayed full for {self.buffer_full_timeout:g}s "
                    "(is the broker reachable?); the notification was not accepted")
            self.producer.poll(min(0.1, remaining))
            try:
                if report is None:  # the producer's own callback, _on_delivery
                    self.producer.produce(topic, value, key, headers=headers)
                else:
                    self.producer.produce(topic, value, key, headers=headers, on_delivery=report)
                return
            except BufferError:
                continue
            except KafkaException as exc:
                self._refused(topic, value, exc)

    def _refused(self, topic: str, value: bytes, exc: KafkaException) -> None:
        """librdkafka would not take the record at all: say why, as an error of the right kind."""
        error = exc.args[0]
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE and topic != self.settings.dlq_topic:
            # librdkafka's (or the broker's) limit is below max_message_bytes.
            raise InvalidNotification("oversized", f"{len(value)} bytes: {error.str()}") from None
        raise DeliveryError(f"{topic}: {error.str()}") from None

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.reachability.answered()
        with self._lock:
            if err is None:
                self.stats.delivered += 1
            else:
                self.stats.failed += 1
                error = f"{msg.topic()}: {err.str()}"
                self._unreported.append(error)
                if len(self.stats.errors) < 100:
                    self.stats.errors.append(error)
        if err is not None and err.code() not in _PURGED:  # a purge is the caller's own doing
            log.error("delivery to %s failed: %s", msg.topic(), err.str())
        if self._user_callback is not None:
            self._user_callback(err, msg)

    # -- lifecycle ----------------------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> int:
        return self.producer.poll(timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything handed over is delivered or has definitely failed.

        Raises DeliveryError for records that failed since the previous flush (once each); the
        cumulative count stays in `stats.failed`.
        """
        remaining = self.producer.flush(timeout) if timeout is not None else self.producer.flush()
        if remaining:
            raise DeliveryError(f"{remaining} records still in flight after {timeout}s")
        with self._lock:
            failed, self._unreported = self._unreported, []
        if failed:
            raise DeliveryError(f"{len(failed)} records could not be delivered: {failed[:3]}")

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.producer.flush(30)
