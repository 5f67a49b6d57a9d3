"""oslo.messaging plumbing shared by the driver and bridge integration tests."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from typing import Any

from producers.config import Settings
from producers.contract import DOCUMENTED_TYPES

#: Datetimes inside Glance payloads ("2026-01-02T03:04:05Z") depend on when the scenario ran.
_PAYLOAD_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def spy_on_drivers(oslo_notifier: Any) -> list[dict[str, Any]]:
    """Record (deep copies of) the messages oslo.messaging hands its drivers, message_id and all.

    Works on an ``oslo_messaging.Notifier`` with one driver; every later call through it (and
    through its ``prepare()``d sub-notifiers, which share the driver manager) is recorded.
    """
    extensions = oslo_notifier._driver_mgr.extensions
    assert len(extensions) == 1, [e.name for e in extensions]
    sent: list[dict[str, Any]] = []
    driver = extensions[0].obj
    real_notify = driver.notify

    def notify(ctxt: Any, msg: dict[str, Any], priority: str, retry: Any) -> None:
        sent.append(copy.deepcopy(msg))
        real_notify(ctxt, msg, priority, retry)

    driver.notify = notify
    return sent


def the_driver(oslo_notifier: Any) -> Any:
    """The (single) driver object an oslo_messaging.Notifier loaded."""
    (extension,) = oslo_notifier._driver_mgr.extensions
    return extension.obj


def notify_like(oslo_notifier: Any, notification: dict[str, Any], ctxt: Any = None) -> None:
    """Send `notification`'s event type and payload at its priority, as its publisher."""
    sub = oslo_notifier.prepare(publisher_id=notification["publisher_id"])
    method = {"INFO": sub.info, "WARN": sub.warn, "ERROR": sub.error}[
        notification["priority"].upper()]
    method(ctxt if ctxt is not None else {}, notification["event_type"],
           copy.deepcopy(notification["payload"]))


def topic_of(settings: Settings, event_type: str) -> str:
    return settings.topic(event_type if event_type in DOCUMENTED_TYPES else "other")


def _run_independent(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _run_independent(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_run_independent(v) for v in value]
        # Glance keeps tags in a set: their order in a payload is not part of the event.
        return sorted(items) if key == "tags" else items
    if isinstance(value, str) and _PAYLOAD_DATETIME.match(value):
        return "<datetime>"
    return value


def event_shapes(notifications: list[dict[str, Any]]) -> Counter[str]:
    """Multiset of (publisher_id, event_type, priority, payload) with the parts that differ between
    two runs of the same Glance scenario -- payload datetimes, tag order -- taken out."""
    return Counter(
        json.dumps([n["publisher_id"], n["event_type"], n["priority"].upper(),
                    _run_independent(n["payload"])], sort_keys=True)
        for n in notifications)


def delivered_as_sent(settings: Settings, records: dict[str, list[Any]],
                      sent: dict[str, dict[str, Any]]) -> Counter[str]:
    """Every record on the per-type topics decodes to a notification in `sent` (by message_id),
    on its event type's topic, with the values sent. Returns how often each message_id came."""
    from producers.serde import AvroCodec
    from tests.unit.test_codec import assert_same_notification

    codec = AvroCodec(settings)
    seen: Counter[str] = Counter()
    for topic, messages in records.items():
        if topic == settings.dlq_topic:
            continue
        for message in messages:
            got = codec.decode(message.value())
            original = sent[got["message_id"]]  # KeyError: not a notification we sent
            assert topic == topic_of(settings, original["event_type"])
            assert_same_notification(got, original)
            seen[got["message_id"]] += 1
    return seen
