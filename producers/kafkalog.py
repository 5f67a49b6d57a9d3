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

    `answered()` (a delivery, a fetched record) ends an outage with a "reachable again" line;
    clients without such a signal get a new "cannot reach" line for an outage that starts after
    OUTAGE_GAP seconds without errors.
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
        now = time.monotonic()
        with self._lock:
            new_outage = self.down_since is None or now - self.last_error > OUTAGE_GAP
            self.last_error = now
            self.reason = text
            if new_outage:
                self.down_since = self.last_report = now
            elif now - self.last_report >= REPORT_EVERY:
                self.last_report = now
            else:
                return
            since = now - self.down_since
        if new_outage:
            self.log.warning("cannot reach %s (%s); retrying until it answers", self.where, text)
        else:
            self.log.warning("%s still unreachable after %.0f s (%s); still retrying",
                             self.where, since, text)

    def answered(self) -> None:
        """The cluster took a request (a delivery report, a fetched record)."""
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            since, self.down_since = time.monotonic() - self.down_since, None
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
