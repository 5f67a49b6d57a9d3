"""An oslo.messaging notifier driver, so Glance publishes here by configuration alone:

    [oslo_messaging_notifications]
    driver = kafka-avro

    [glance_kafka]
    bootstrap_servers = kafka-1:9092,kafka-2:9092
    # topic_prefix, schema_registry_url, security_protocol, sasl_*, ssl_* as in GLANCE_KAFKA_*

Options left unset fall back to GLANCE_KAFKA_* environment variables, then to the defaults
(producers/opts.py lists them).

Glance builds notifier instances freely (several per worker at start, and with the image cache
one per cached download), so a driver owns no producer: every driver in a process with the same
settings shares one Publisher, made on first use. Glance's API forks its workers and a librdkafka
producer does not survive a fork, so a child makes its own, once, and never touches the one it
inherited. At exit a process makes one bounded flush of all its publishers together.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from typing import Any

from oslo_config import cfg
from oslo_messaging.notify import notifier

from .config import Settings, load_settings
from .exceptions import DeliveryError, GlanceKafkaError, InvalidNotification, QueueFull
from .opts import DRIVER_ONLY, GROUP, OPTS, list_opts
from .publisher import Publisher

__all__ = ["GROUP", "OPTS", "AvroKafkaDriver", "list_opts", "shared_publishers"]

log = logging.getLogger(__name__)

#: Seconds between two log lines about refused notifications (each says how many since the last).
REFUSAL_LOG_INTERVAL = 60.0


class _Shared:
    """This process's publishers, one per distinct configuration, and what they refused."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.publishers: dict[tuple[Any, ...], Publisher] = {}
        self.flush_timeouts: dict[tuple[Any, ...], float] = {}
        self.refused = 0
        self.refused_unlogged = 0
        self.last_refusal_log = float("-inf")
        self.flushed = False

    def get(self, key: tuple[Any, ...], make: Any, flush_timeout: float) -> Publisher:
        with self.lock:
            publisher = self.publishers.get(key)
            if publisher is None:
                publisher = self.publishers[key] = make()
                self.flush_timeouts[key] = flush_timeout
            return publisher

    def release(self, publisher: Publisher) -> None:
        with self.lock:
            for key, held in list(self.publishers.items()):
                if held is publisher:
                    del self.publishers[key]
                    self.flush_timeouts.pop(key, None)

    def refusal(self, message_id: Any, reason: str) -> None:
        """Counted always; logged at most once per REFUSAL_LOG_INTERVAL, with the count."""
        with self.lock:
            self.refused += 1
            self.refused_unlogged += 1
            now = time.monotonic()
            if now - self.last_refusal_log < REFUSAL_LOG_INTERVAL:
                return
            count, self.refused_unlogged = self.refused_unlogged, 0
            self.last_refusal_log = now
            total = self.refused
        log.error("glance-kafka refused %d Glance notification(s) since the last report (%d in "
                  "this process; latest %s): %s", count, total, message_id, reason)


_shared = _Shared()
#: Publishers inherited from a parent process. Their librdkafka threads did not survive the fork:
#: flushing one never returns, and destroying one blocks (for ever if it had records in flight),
#: so they are kept referenced and never touched again.
_INHERITED: list[Publisher] = []
#: Every driver in this process, so a forked child can give each a fresh lock.
_DRIVERS: weakref.WeakSet[AvroKafkaDriver] = weakref.WeakSet()


def shared_publishers() -> list[Publisher]:
    """The publishers this process made (the tests count them)."""
    with _shared.lock:
        return list(_shared.publishers.values()) if _shared.pid == os.getpid() else []


def refused_count() -> int:
    """Notifications this process refused (no room in the local queue within the bound)."""
    return _shared.refused


def _after_fork_in_child() -> None:
    global _shared
    _INHERITED.extend(_shared.publishers.values())
    # The parent's locks may have been held by a thread that does not exist here.
    _shared = _Shared()
    for driver in list(_DRIVERS):
        driver._lock = threading.Lock()
        driver._publisher = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def flush_all(timeout: float | None = None) -> int:
    """One bounded flush of every publisher this process made: `timeout` (default: the largest
    configured flush_timeout) in total, not per publisher. Logs what could not be delivered, as a
    count, once; returns that count."""
    shared = _shared
    if shared.pid != os.getpid():
        return 0
    with shared.lock:
        publishers = list(shared.publishers.values())
        budget = timeout if timeout is not None else max(shared.flush_timeouts.values(),
                                                         default=0.0)
    deadline = time.monotonic() + budget
    undelivered = 0
    for publisher in publishers:
        failed_before = publisher.stats.failed
        with contextlib.suppress(DeliveryError):  # counted just below
            publisher.flush(max(0.0, deadline - time.monotonic()))
        undelivered += len(publisher.producer) + publisher.stats.failed - failed_before
    if undelivered:
        log.error("glance-kafka: %d notification(s) not delivered to Kafka at exit (waited up to "
                  "%.1fs; is Kafka reachable?)", undelivered, budget)
        for publisher in publishers:
            # Nothing more will be delivered: let librdkafka's destroy at exit not wait for them.
            publisher.producer.purge()
    return undelivered


def _flush_at_exit() -> None:
    """Python's atexit, and uWSGI's own exit hook: under uWSGI (where Glance 33 runs) a worker
    may leave without running Python's atexit functions, but it calls `uwsgi.atexit` (Glance sets
    it to drain its task pools; ours runs after it)."""
    if not _shared.flushed:  # one exit flush per process, whichever hook comes first
        _shared.flushed = True
        flush_all()


atexit.register(_flush_at_exit)
try:
    import uwsgi  # type: ignore[import-not-found]  # only inside a uWSGI worker
except ImportError:
    uwsgi = None
if uwsgi is not None:
    _previous_uwsgi_atexit = getattr(uwsgi, "atexit", None)

    def _uwsgi_atexit() -> None:
        try:
            if callable(_previous_uwsgi_atexit):
                _previous_uwsgi_atexit()
        finally:
            _flush_at_exit()

    uwsgi.atexit = _uwsgi_atexit


class AvroKafkaDriver(notifier.Driver):
    """Publishes each notification as Avro to its per-type topic (glance.image.send, ...).

    A Glance request never waits on it longer than `buffer_full_timeout`: a notification that
    finds no room in the local queue in that time is refused (counted, rate-limited log line),
    and while the queue stays full the next ones are refused without waiting.
    """

    def __init__(self, conf: cfg.ConfigOpts, topics: list[str], transport: Any) -> None:
        super().__init__(conf, topics, transport)
        conf.register_opts(OPTS, group=GROUP)
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None
        self._key: tuple[Any, ...] | None = None
        _DRIVERS.add(self)

    def settings(self) -> Settings:
        group = self.conf[GROUP]
        given: dict[str, Any] = {opt.dest: group[opt.dest] for opt in OPTS
                                 if opt.dest not in DRIVER_ONLY}
        if group.librdkafka:
            given["librdkafka"] = dict(group.librdkafka)
        return load_settings(**given)

    def publisher(self) -> Publisher:
        """This process's publisher for these settings (shared with every other driver)."""
        publisher = self._publisher
        shared = _shared
        if publisher is not None and shared.publishers.get(self._key) is publisher:  # type: ignore[arg-type]
            return publisher
        with self._lock:
            group = self.conf[GROUP]
            settings = self.settings()
            self._key = (settings.key(), group.buffer_full_timeout)
            self._publisher = shared.get(
                self._key, lambda: Publisher(settings, source="oslo-driver",
                                             buffer_full_timeout=group.buffer_full_timeout),
                group.flush_timeout)
            return self._publisher

    def notify(self, ctxt: Any, msg: dict[str, Any], priority: str, retry: Any) -> None:
        try:
            self.publisher().publish(msg)
        except InvalidNotification as exc:
            # Already on the dead-letter topic with its reason; Glance must not fail over it.
            log.warning("Glance notification %s dead-lettered: %s: %s", msg.get("message_id"),
                        exc.reason, exc.detail)
        except QueueFull as exc:
            # Refused, not dropped silently: counted and reported (rate-limited), and Glance's
            # request goes on. Raising would make oslo.messaging log a traceback per request.
            _shared.refusal(msg.get("message_id"), str(exc))
        except GlanceKafkaError:
            log.exception("could not publish Glance notification %s", msg.get("message_id"))
            raise

    def _own_publisher(self) -> Publisher | None:
        """This process's publisher, if one was made here (never one inherited from a parent)."""
        publisher = self._publisher
        return publisher if publisher is not None and _shared.publishers.get(
            self._key) is publisher else None  # type: ignore[arg-type]

    def flush(self, timeout: float | None = None) -> None:
        """Wait for this process's notifications to be delivered; DeliveryError if some were not."""
        publisher = self._own_publisher()
        if publisher is not None:
            publisher.flush(timeout if timeout is not None else self.conf[GROUP].flush_timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is in flight and let the shared producer go (it will not reconnect to a
        broker that is going away). A later notification, from any driver, makes a new one."""
        publisher = self._own_publisher()
        try:
            self.flush(timeout)
        finally:
            if publisher is not None:
                _shared.release(publisher)
            self._publisher = None
