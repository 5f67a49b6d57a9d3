"""What every bridge does with one notification it read: keep Glance's, republish, dead-letter the rest.

Shared by the Kafka bridge (oslo's Kafka topics in) and the RabbitMQ tap (oslo's rabbit exchange
in), so both filter, dead-letter and count the same way under the same metric.
"""

from __future__ import annotations

from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter

from .codec import parse_notification
from .deadletter import Headers, original_bytes
from .exceptions import InvalidNotification
from .publisher import Publisher

Outcome = Literal["forwarded", "skipped", "dead_lettered"]


class Forwarder:
    """Republishes notifications whose publisher_id starts with `publisher_prefix` (Glance: image.).

    Another service's notification is skipped (and counted); one that cannot be encoded goes to
    the dead-letter topic with its reason. Delivery is the caller's to wait for (Publisher.flush).
    """

    def __init__(self, publisher: Publisher, publisher_prefix: str = "image.",
                 registry: CollectorRegistry | None = None) -> None:
        self.publisher = publisher
        self.publisher_prefix = publisher_prefix
        self.records = Counter(
            "glance_bridge_records_total",
            "Records read from the oslo.messaging source, by what the bridge did with them.",
            ["outcome"], registry=registry)
        self._counters = {o: self.records.labels(o) for o in ("forwarded", "skipped", "dead_lettered")}

    def forward(self, raw: bytes | dict[str, Any], *, origin: str, key: bytes | None = None,
                headers: Headers | None = None) -> Outcome:
        """`raw`: the bytes as read, or the notification dict an oslo listener handed over."""
        original = raw if isinstance(raw, bytes) else None
        try:
            notification = parse_notification(raw)
        except InvalidNotification as exc:
            self.publisher.dead_letter(original if original is not None else original_bytes(raw),
                                       exc.reason, exc.detail, key=key, origin=origin,
                                       headers=headers)
            return self._count("dead_lettered")
        publisher_id = notification.get("publisher_id")
        if isinstance(publisher_id, str) and not publisher_id.startswith(self.publisher_prefix):
            return self._count("skipped")  # another service's notification
        try:
            self.publisher.publish(notification, original=original, origin=origin,
                                   original_headers=headers)
        except InvalidNotification:
            return self._count("dead_lettered")  # publish() dead-lettered it
        return self._count("forwarded")

    def _count(self, outcome: Outcome) -> Outcome:
        self._counters[outcome].inc()
        return outcome
