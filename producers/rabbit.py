"""The RabbitMQ tap: Glance's notifications from an oslo.messaging transport, needing no change to Glance.

Most clouds send notifications over oslo.messaging's rabbit transport, to the `glance` topic
exchange with routing keys `<topic>.<priority>`. The tap listens there with oslo.messaging's own
batch notification listener, in a **pool** of its own (a queue named after the pool, bound to
every `<topic>.<priority>`), so it gets a copy of every message and never takes Ceilometer's.

At-least-once: a batch is acknowledged (the endpoint returns normally) only once librdkafka has
delivered every record produced from it, or they were dead-lettered; a definite delivery failure,
or a stop while Kafka is away, requeues the batch. While Kafka is merely slow or away, the
endpoint waits (librdkafka retries for message.timeout.ms) and the prefetch bound keeps the rest
of the backlog in RabbitMQ. A crash loses nothing either: RabbitMQ redelivers what was not acked,
with the same message_id, for the stream processors to skip.

/healthz (`healthy()`) is 503 once the tap has held messages for longer than
liveness_timeout_seconds without delivering any to Kafka: a batch waiting on a broker that does
not answer, or batches requeued again and again because Kafka fails them. An idle tap holds
nothing and is healthy, also one whose failed batch RabbitMQ gave to another replica.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from .config import Settings
from .exceptions import (
    AuthenticationError,
    BrokerError,
    ConfigurationError,
    DeliveryError,
    GlanceKafkaError,
)
from .forward import Forwarder
from .liveness import Liveness
from .publisher import Publisher

log = logging.getLogger(__name__)

#: oslo.messaging's notification priorities (what `notifier.<priority>()` sends).
ALL_PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")
#: The logger oslo's rabbit driver reports connection failures to (and then retries for ever).
_RABBIT_LOGGER = "oslo.messaging._drivers.impl_rabbit"
#: Pause after a batch whose records could not be delivered, before RabbitMQ hands it back.
_REQUEUE_BACKOFF = 2.0


class TapConnectionError(BrokerError):
    """The tap could not start listening: RabbitMQ unreachable, unknown vhost... (exit 4)."""


@dataclass(frozen=True)
class TapOptions:
    transport_url: str
    exchange: str = "glance"  # Glance's control exchange (oslo_messaging.set_transport_defaults)
    topics: tuple[str, ...] = ("notifications",)
    priorities: tuple[str, ...] = ALL_PRIORITIES
    pool: str = "glance-kafka"
    batch_size: int = 500
    batch_timeout: float = 1.0
    publisher_prefix: str = "image."
    #: An oslo.config file, for [oslo_messaging_rabbit] options (ssl, ssl_ca_file, heartbeats ...).
    config_file: str | None = None
    #: How long start() may try to reach RabbitMQ before the tap gives up with an error.
    connect_timeout: float = 30.0
    #: On stop, how long the batch being delivered may wait for Kafka before it is requeued.
    drain_timeout: float = 10.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.priorities) - set(ALL_PRIORITIES))
        if unknown:
            raise ConfigurationError(f"unknown priorities {', '.join(unknown)}: choose from "
                                     f"{', '.join(ALL_PRIORITIES)}")
        if not self.topics or not self.priorities:
            raise ConfigurationError("the tap needs at least one topic and one priority")
        if self.batch_size < 1 or self.batch_timeout <= 0:
            raise ConfigurationError("batch size and batch timeout must be positive")


def _oslo() -> Any:
    """oslo.messaging, imported quietly (it pulls in eventlet, which warns at import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import oslo_messaging
    return oslo_messaging


def _endpoint(priorities: tuple[str, ...], handle: Callable[[str, list[dict[str, Any]]], Any]) -> Any:
    """An endpoint with one method per priority: oslo listens on (and binds) only those."""
    methods = {p: staticmethod(lambda messages, p=p: handle(p, messages)) for p in priorities}
    return type("TapEndpoint", (), methods)()


class RabbitTap:
    def __init__(self, settings: Settings, options: TapOptions,
                 registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.options = options
        self.stopping = threading.Event()
        self.listening = False
        om = _oslo()
        self._requeue = om.NotificationResult.REQUEUE
        self.conf = self._load_conf()
        stevedore = logging.getLogger("stevedore")
        level = stevedore.level
        stevedore.setLevel(logging.CRITICAL)  # an unknown scheme: said once, below
        try:
            self._url = om.TransportURL.parse(self.conf, options.transport_url)
            self.transport = om.get_notification_transport(self.conf, url=options.transport_url)
        except (om.InvalidTransportURL, om.DriverLoadFailure) as exc:
            # Their messages quote the URL, password and all.
            scheme = options.transport_url.partition(":")[0]
            why = (f"no oslo.messaging driver for {scheme!r}"
                   if isinstance(exc, om.DriverLoadFailure) else "not a transport URL")
            raise ConfigurationError(
                f"--transport-url: {why}; expected rabbit://user:password@host:5672"
                "[,user:password@host2:5672]/vhost") from None
        finally:
            stevedore.setLevel(level)
        if self.conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count <= 0:
            # oslo's default, 0, lets RabbitMQ push the whole backlog into this process. Four
            # batches' worth keeps the listener's poll thread fed while a batch waits for Kafka
            # (it sends the acks only between polls) and the rest of a backlog in RabbitMQ.
            self.conf.set_default("rabbit_qos_prefetch_count", 4 * options.batch_size,
                                  group="oslo_messaging_rabbit")
        self.publisher = Publisher(settings, source="rabbit-tap")
        self.forwarder = Forwarder(self.publisher, options.publisher_prefix, registry)
        self.consumed = Counter("glance_bridge_consumed_total",
                                "Messages the tap received from RabbitMQ.", registry=registry)
        self.acked = Counter("glance_bridge_acked_total",
                             "Messages acknowledged to RabbitMQ (delivered to Kafka, dead-lettered "
                             "or skipped).", registry=registry)
        self.requeued = Counter("glance_bridge_requeued_total",
                                "Messages handed back to RabbitMQ (Kafka failed them, or the tap "
                                "stopped before they were delivered).", registry=registry)
        #: /healthz: what the tap holds gets delivered; "delivery" rests while it holds nothing.
        self.liveness = Liveness(settings.liveness_timeout_seconds, ("delivery",))
        self.liveness.rest("delivery")
        self.in_flight = Gauge("glance_bridge_in_flight",
                               "Messages received and neither acknowledged nor requeued yet.",
                               registry=registry)
        targets = [om.Target(exchange=options.exchange, topic=t) for t in options.topics]
        self.server = om.get_batch_notification_listener(
            self.transport, targets, [_endpoint(options.priorities, self._on_batch)],
            pool=options.pool, allow_requeue=True, batch_size=options.batch_size,
            batch_timeout=options.batch_timeout)

    def _load_conf(self) -> Any:
        from oslo_config import cfg

        conf = cfg.ConfigOpts()
        files = [self.options.config_file] if self.options.config_file else []
        try:
            conf(args=[], project="glance-kafka", default_config_files=files)
        except (cfg.ConfigFilesNotFoundError, cfg.ConfigFileParseError) as exc:
            raise ConfigurationError(f"--config-file: {exc}") from None
        # Registered now so the file's [oslo_messaging_rabbit] values are readable before the
        # driver loads (it registers the same options again, which oslo.config allows).
        from oslo_messaging import opts

        for group, options in opts.list_opts():
            conf.register_opts(options, group=group)
        return conf

    @property
    def where(self) -> str:
        """The transport URL without its passwords, for messages."""
        hosts = ",".join(f"{h.username + '@' if h.username else ''}{h.hostname}:{h.port or 5672}"
                         for h in self._url.hosts) or "localhost:5672"
        return f"{self._url.transport}://{hosts}/{self._url.virtual_host or ''}"

    # -- running ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Listen until stop() (or SIGTERM via the CLI), then deliver or requeue what it holds."""
        self.start()
        try:
            self.stopping.wait()
        finally:
            self.listening = False
            self.server.stop()  # no new batches; the one being delivered finishes (or requeues)
            self.server.wait()  # its ack/requeue is sent, then the connection closes
            # No final flush: every acknowledged batch is delivered already, and what is still
            # in librdkafka's queue belongs to requeued batches, which RabbitMQ hands out again.
            self.transport.cleanup()

    def start(self) -> None:
        """Starts the listener, or raises TapConnectionError within connect_timeout.

        oslo's rabbit driver retries an unreachable server for ever, logging each attempt; the
        tap gives it connect_timeout, then reports the last reason as one line. A refused login
        or an unknown vhost raise at once.
        """
        failures = _ConnectionFailures()
        rabbit_log = logging.getLogger(_RABBIT_LOGGER)
        rabbit_log.addHandler(failures)
        propagate, rabbit_log.propagate = rabbit_log.propagate, False
        outcome: dict[str, BaseException | None] = {}

        def start() -> None:
            try:
                self.server.start(override_pool_size=1)  # one batch at a time: see _on_batch
                outcome["error"] = None
            except BaseException as exc:  # reported by the caller's thread
                outcome["error"] = exc

        starter = threading.Thread(target=start, name="tap-start", daemon=True)
        try:
            starter.start()
            deadline = time.monotonic() + self.options.connect_timeout
            while starter.is_alive() and time.monotonic() < deadline \
                    and not self.stopping.is_set():
                starter.join(0.2)
        finally:
            rabbit_log.removeHandler(failures)
            rabbit_log.propagate = propagate
        if "error" not in outcome:
            if self.stopping.is_set():
                return
            raise TapConnectionError(
                f"cannot reach RabbitMQ at {self.where} within {self.options.connect_timeout:g}s"
                + (f": {failures.last}" if failures.last else ""))
        error = outcome["error"]
        if error is not None:
            text = f"RabbitMQ at {self.where}: {_one_line(error)}"
            if "ACCESS_REFUSED" in text or "authentication" in text.lower():
                raise AuthenticationError(text) from None  # exit 5: the login was refused
            if "NOT_ALLOWED" in text or "NOT_FOUND" in text or "PRECONDITION_FAILED" in text:
                raise ConfigurationError(text) from None  # exit 2: vhost, durability settings
            raise TapConnectionError(text) from None
        self.listening = True
        log.warning("tap listening on %s, exchange %s, topics %s, pool %s", self.where,
                    self.options.exchange, ",".join(self.options.topics), self.options.pool)

    def stop(self) -> None:
        self.stopping.set()

    # -- one batch --------------------------------------------------------------------------------

    def _on_batch(self, priority: str, messages: list[dict[str, Any]]) -> Any:
        """Returns None (oslo acknowledges the batch) or REQUEUE.

        Batches come one at a time (the listener runs a single worker), so what Publisher.flush
        reports failed belongs to this batch, and no batch is acknowledged on another's account.
        """
        count = len(messages)
        self.consumed.inc(count)
        self.in_flight.inc(count)
        # A batch soon after a requeued one does not restart the clock (Liveness.hand_back): the
        # same messages, again not delivered, are no progress.
        self.liveness.busy("delivery")
        try:
            if self.stopping.is_set():
                return self._hand_back(count, "stopping")
            origin = f"rabbit:{self.options.exchange}/{priority}"
            level = priority.upper()
            for message in messages:
                metadata = message.get("metadata") or {}
                self.forwarder.forward({
                    "message_id": metadata.get("message_id"),
                    "publisher_id": message.get("publisher_id"),
                    "event_type": message.get("event_type"),
                    "priority": level,
                    "timestamp": metadata.get("timestamp"),
                    "payload": message.get("payload"),
                }, origin=origin)
            self._settle()
        except DeliveryError as exc:
            log.error("tap: %s; %d messages go back to RabbitMQ", exc, count)
            if not self.stopping.is_set():
                self.stopping.wait(_REQUEUE_BACKOFF)
            return self._hand_back(count, "undelivered")
        except _Stopped:
            return self._hand_back(count, "stopping while Kafka was away")
        finally:
            self.in_flight.dec(count)
        self.acked.inc(count)
        self.liveness.rest("delivery")
        return None

    def healthy(self) -> bool:
        return self.liveness.healthy()

    def _settle(self) -> None:
        """Waits until every record produced so far is delivered or has failed.

        Kafka away: keeps waiting (librdkafka retries) unless the tap is stopping, in which case
        it gives up after drain_timeout so that a SIGTERM is honoured within a bound.
        """
        give_up: float | None = None
        stats = self.publisher.stats
        delivered = stats.delivered
        while self.publisher.producer.flush(0.5):
            if stats.delivered > delivered:  # records failing for good are no progress
                delivered = stats.delivered
                self.liveness.beat("delivery")
            if self.stopping.is_set():
                give_up = give_up or time.monotonic() + self.options.drain_timeout
                if time.monotonic() > give_up:
                    raise _Stopped
        self.publisher.flush(0)  # raises DeliveryError for records that failed

    def _hand_back(self, count: int, why: str) -> Any:
        # RabbitMQ may give the batch to another replica: this one then holds nothing
        self.liveness.hand_back("delivery")
        self.requeued.inc(count)
        log.info("tap: requeueing %d messages (%s)", count, why)
        return self._requeue


class _Stopped(GlanceKafkaError):
    """Stop requested while a batch still waited for Kafka."""


class _ConnectionFailures(logging.Handler):
    """Keeps the last connection failure oslo's rabbit driver logged (and retried)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.last = str(args[0]) if args else record.getMessage()


def _one_line(exc: BaseException) -> str:
    """amqp's errors read '(0, 0): (403) ACCESS_REFUSED - Login was refused ...'."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("(0, 0): "):
        text = text[len("(0, 0): "):]
    return text
