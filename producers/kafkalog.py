"""What Kafka clients say while Kafka is away: one line when it goes, one a minute while it stays.

Left alone, librdkafka reports every failed reconnect (4-20 a second while a broker is away), both
through its log and through the error callback; aiokafka and Faust do the same in the worker. An
operator needs one line saying Kafka cannot be reached and that the client keeps retrying, then
"still unreachable after 60 s" now and then, then "reachable again": `Reachability` says exactly
that for librdkafka's error callback, and `FoldRepeats` folds every other repeated line.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

LOGGER = logging.getLogger("librdkafka")

#: Seconds between two "still unreachable" lines, and the window repeats are folded in.
REPORT_EVERY = 60.0
#: An error after this long a silence is a new outage, not the old one going on.
OUTAGE_GAP = 30.0
#: An answer this soon after an outage's first failure is for a request sent before it (a delivery
#: report or a fetch response in flight when the broker went), not a sign that it is back: taken as
#: one, it logged "reached again after 0 s" and then "cannot reach" a second time.
STALE_ANSWER = 1.0

#: librdkafka error names that mean "cannot talk to the cluster right now" (KafkaError.name()).
CONNECTIVITY_ERRORS = frozenset({
    "_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_TIMED_OUT", "_SSL", "_AUTHENTICATION",
    "SASL_AUTHENTICATION_FAILED", "_MSG_TIMED_OUT"})


def plain(text: str) -> str:
    """librdkafka's "host:port/bootstrap: Connect to ... failed: Connection refused (after 0ms in
    state CONNECT)" as "Connect to ... failed: Connection refused"."""
    return re.sub(r"^\S+/\S+: ", "", text).split(" (after ")[0]


class Reachability:
    """librdkafka's error callback for one client: connection failures reported as one outage.

    `answered()` (a delivery, a fetched record) ends an outage with a "reachable again" line,
    unless it comes within STALE_ANSWER of the outage's start; clients without such a signal get
    a new "cannot reach" line for an outage that starts after OUTAGE_GAP seconds without errors.
    """

    def __init__(self, bootstrap_servers: str, logger: logging.Logger | None = None,
                 what: str = "Kafka") -> None:
        self.where = f"{what} at {bootstrap_servers}"
        self.log = logger or logging.getLogger("glance_kafka.kafka")
        self.down_since: float | None = None
        self.last_error = 0.0
        self.last_report = 0.0
        self.reason = ""
        self._lock = threading.Lock()
        self._other = FoldRepeats()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def on_error(self, error: Any) -> None:
        name = error.name() if hasattr(error, "name") else ""
        text = error.str() if hasattr(error, "str") else str(error)
        text = plain(text)
        if name not in CONNECTIVITY_ERRORS:
            record = self.log.makeRecord(self.log.name, logging.WARNING, __file__, 0,
                                         "kafka: %s", (text,), None)
            if self._other.filter(record):
                self.log.handle(record)
            return
        self.failed(text)

    def failed(self, reason: str) -> None:
        """One failed attempt to talk to the cluster, for whatever reason."""
        now = time.monotonic()
        with self._lock:
            new_outage = self.down_since is None or now - self.last_error > OUTAGE_GAP
            self.last_error = now
            self.reason = reason
            if new_outage:
                self.down_since = self.last_report = now
            elif now - self.last_report >= REPORT_EVERY:
                self.last_report = now
            else:
                return
            since = now - self.down_since
        if new_outage:
            self.log.warning("cannot reach %s (%s); retrying until it answers", self.where, reason)
        else:
            self.log.warning("%s still unreachable after %.0f s (%s); still retrying",
                             self.where, since, reason)

    def answered(self) -> None:
        """The cluster took a request (a delivery report, a fetched record)."""
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            since = time.monotonic() - self.down_since
            if since < STALE_ANSWER:
                return
            self.down_since = None
        self.log.warning("reached %s again after %.0f s", self.where, since)


class FoldRepeats(logging.Filter):
    """Lets a line through once per window; the next one after the window says how many it hid.

    librdkafka's own FAIL lines (every failed connect) are dropped unless DEBUG is on: the error
    callback reports the same failures, through `Reachability`.
    """

    def __init__(self, window: float = REPORT_EVERY) -> None:
        super().__init__()
        self.window = window
        self.seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.name == LOGGER.name and record.args and record.args[0] == "FAIL"
                and not LOGGER.isEnabledFor(logging.DEBUG)):
            return False
        text = record.getMessage()
        key = text.split("]: ", 1)[-1].split(" (after ")[0]
        now = time.monotonic()
        first, count = self.seen.get(key, (0.0, 0))
        if not count or now - first > self.window:
            if count > 1:
                record.msg = f"{text} (and {count - 1} more like it in {now - first:.0f} s)"
                record.args = ()
            self.seen[key] = (now, 1)
            if len(self.seen) > 1000:
                self.seen.clear()
            return True
        self.seen[key] = (first, count + 1)
        return False


LOGGER.addFilter(FoldRepeats())

#: aiokafka's (the stream worker's Kafka client's) lines that mean "cannot talk to the cluster".
_AIOKAFKA_OUTAGE = re.compile(
    r"Unable connect to node|Unable to update metadata|Connect call failed|NodeNotReadyError|"
    r"KafkaConnectionError|Group Coordinator Request failed|arking (the )?coordinator dead|"
    r"Heartbeat session expired|Heartbeat send request failed|GroupCoordinatorNotAvailable|"
    r"RequestTimedOutError|Coordinator.* not available")
AIOKAFKA_LOGGERS = (
    "aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer", "aiokafka.producer.sender")


class _AiokafkaOutageLines(logging.Filter):
    """aiokafka's outage lines become `Reachability`'s few (all of them with keep_all); the rest
    fold."""

    def __init__(self, reachability: Reachability, keep_all: bool) -> None:
        super().__init__()
        self.reachability = reachability
        self.keep_all = keep_all
        self.fold = FoldRepeats()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.levelno >= logging.WARNING and _AIOKAFKA_OUTAGE.search(text):
            self.reachability.failed(text.strip().split(": ", 1)[-1][:200])
            return self.keep_all
        return self.fold.filter(record)


def watch_aiokafka(reachability: Reachability, keep_all: bool = False) -> None:
    """Route aiokafka's connection-failure lines in this process through `reachability`
    (`keep_all`, for -vv: and let them through as well). Faust sets every logger to DEBUG and
    filters at its handler, so the logger's own level cannot say whether they were asked for."""
    for name in AIOKAFKA_LOGGERS:
        logging.getLogger(name).addFilter(_AiokafkaOutageLines(reachability, keep_all))
