"""An oslo.messaging notifier driver, so Glance publishes here by configuration alone:

    [oslo_messaging_notifications]
    driver = kafka-avro

    [glance_kafka]
    bootstrap_servers = kafka-1:9092,kafka-2:9092
    # topic_prefix, schema_registry_url, security_protocol, sasl_*, ssl_* as in GLANCE_KAFKA_*

Options left unset fall back to GLANCE_KAFKA_* environment variables, then to the defaults.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from typing import Any

from oslo_config import cfg
from oslo_messaging.notify import notifier

from .config import Settings, load_settings
from .exceptions import GlanceKafkaError, InvalidNotification
from .publisher import Publisher

log = logging.getLogger(__name__)

GROUP = "glance_kafka"
OPTS = [
    cfg.StrOpt("bootstrap_servers", help="Kafka bootstrap servers, host:port[,host:port]."),
    cfg.StrOpt("topic_prefix", help="Prefix of the per-type topics (default 'glance.')."),
    cfg.StrOpt("schema_registry_url", help="Confluent-compatible Schema Registry URL."),
    cfg.StrOpt("schema_registry_basic_auth_user_info", secret=True, help="user:password."),
    cfg.StrOpt("security_protocol", help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."),
    cfg.StrOpt("sasl_mechanism", help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."),
    cfg.StrOpt("sasl_username"),
    cfg.StrOpt("sasl_password", secret=True),
    cfg.StrOpt("ssl_ca_location"),
    cfg.StrOpt("ssl_certificate_location"),
    cfg.StrOpt("ssl_key_location"),
    cfg.StrOpt("ssl_key_password", secret=True),
    cfg.DictOpt("librdkafka", default={}, help="Other librdkafka settings, key:value,..."),
    cfg.FloatOpt("buffer_full_timeout", default=10.0,
                 help="Seconds a notification waits for room in the local queue while Kafka is "
                      "away, before it is refused (logged by oslo.messaging); keeps Glance's API "
                      "from hanging on a long outage. The queue holds 100,000 notifications."),
    cfg.FloatOpt("flush_timeout", default=30.0,
                 help="Seconds to wait at exit for notifications still in flight."),
]


_NOT_SETTINGS = ("librdkafka", "flush_timeout", "buffer_full_timeout")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """For oslo-config-generator."""
    return [(GROUP, OPTS)]


#: Every driver in this process, so a forked child can give each a fresh lock.
_DRIVERS: weakref.WeakSet[AvroKafkaDriver] = weakref.WeakSet()
#: Publishers inherited from a parent process. Their librdkafka threads did not survive the fork:
#: flushing one never returns, and destroying one blocks (for ever if it had records in flight),
#: so they are kept referenced and never touched again.
_INHERITED: list[Publisher] = []


def _after_fork_in_child() -> None:
    for driver in list(_DRIVERS):
        # The parent's lock may have been held by a thread that does not exist here.
        driver._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class AvroKafkaDriver(notifier.Driver):
    """Publishes each notification as Avro to its per-type topic (glance.image.send, ...).

    The producer is made on first use in each process: Glance's API forks its workers, and a
    librdkafka producer does not survive a fork. A child never flushes or destroys the producer
    it inherited (that would hang); it makes its own and flushes only that one at exit.
    """

    def __init__(self, conf: cfg.ConfigOpts, topics: list[str], transport: Any) -> None:
        super().__init__(conf, topics, transport)
        conf.register_opts(OPTS, group=GROUP)
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None
        self._pid = 0
        _DRIVERS.add(self)
        atexit.register(self._flush_at_exit)

    def settings(self) -> Settings:
        group = self.conf[GROUP]
        given: dict[str, Any] = {opt.dest: group[opt.dest] for opt in OPTS
                                 if opt.dest not in _NOT_SETTINGS}
        if group.librdkafka:
            given["librdkafka"] = dict(group.librdkafka)
        return load_settings(**given)

    def publisher(self) -> Publisher:
        with self._lock:
            if self._publisher is None or self._pid != os.getpid():
                if self._publisher is not None:
                    _INHERITED.append(self._publisher)
                self._publisher = Publisher(
                    self.settings(), source="oslo-driver",
                    buffer_full_timeout=self.conf[GROUP].buffer_full_timeout)
                self._pid = os.getpid()
            return self._publisher

    def notify(self, ctxt: Any, msg: dict[str, Any], priority: str, retry: Any) -> None:
        try:
            publisher = self.publisher()
            publisher.publish(msg)
        except InvalidNotification as exc:
            # Already on the dead-letter topic with its reason; Glance must not fail over it.
            log.warning("Glance notification %s dead-lettered: %s: %s", msg.get("message_id"),
                        exc.reason, exc.detail)
        except GlanceKafkaError:
            log.exception("could not publish Glance notification %s", msg.get("message_id"))
            raise

    def _own_publisher(self) -> Publisher | None:
        """This process's publisher, if it made one (not one inherited from a parent)."""
        publisher = self._publisher
        return publisher if publisher is not None and self._pid == os.getpid() else None

    def flush(self, timeout: float | None = None) -> None:
        """Wait for this process's notifications to be delivered; DeliveryError if some were not."""
        publisher = self._own_publisher()
        if publisher is not None:
            publisher.flush(timeout if timeout is not None else self.conf[GROUP].flush_timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is in flight and let this process's producer go (it will not reconnect
        to a broker that is going away). A later notification makes a new one."""
        atexit.unregister(self._flush_at_exit)
        try:
            self.flush(timeout)
        finally:
            if self._own_publisher() is not None:
                self._publisher = None

    def _flush_at_exit(self) -> None:
        publisher = self._own_publisher()
        if publisher is None:
            return
        try:
            publisher.flush(self.conf[GROUP].flush_timeout)
        except GlanceKafkaError as exc:
            log.error("notifications lost at exit: %s", exc)
