"""Self-check of tests/glance_events.py: Glance's own notifier code really emits what we rely on."""

from __future__ import annotations

from collections import Counter

from oslo_config import cfg
from oslo_messaging.notify import _impl_test

from tests.glance_events import (
    DOCUMENTED_EVENT_TYPES,
    MEMBER_EVENT_TYPES,
    PUBLISHER_ID,
    emit_glance_events,
    glance_notifications,
    glance_notifier_with_driver,
    seed_notifications,
)

ENVELOPE = {"message_id", "publisher_id", "event_type", "priority", "payload", "timestamp"}


def _of(notes, event_type, priority=None):
    return [n for n in notes if n["event_type"] == event_type
            and (priority is None or n["priority"] == priority)]


def test_glance_notifications_cover_documented_and_member_types():
    notes = glance_notifications()
    assert all(set(n) == ENVELOPE for n in notes)
    assert {n["publisher_id"] for n in notes} == {PUBLISHER_ID}
    types = {n["event_type"] for n in notes}
    assert set(DOCUMENTED_EVENT_TYPES) <= types
    assert set(MEMBER_EVENT_TYPES) <= types
    assert {n["priority"] for n in notes} == {"INFO", "ERROR"}


def test_glance_notifications_edge_cases():
    notes = glance_notifications()
    sends = _of(notes, "image.send")
    assert _of(notes, "image.send", "INFO") and _of(notes, "image.send", "ERROR")
    assert any("destination_ip" in n["payload"] for n in sends)
    assert any("destination_ip" not in n["payload"] for n in sends)
    assert any(isinstance(n["payload"], str) for n in _of(notes, "image.upload", "ERROR"))
    sizes = [n["payload"]["size"] for n in notes
             if isinstance(n["payload"], dict) and "size" in n["payload"]]
    assert any(s is not None and s > 2**31 for s in sizes)
    assert any(s is None for s in sizes)
    failures = _of(notes, "task.failure")
    assert failures and all(n["priority"] == "INFO" for n in failures)
    assert any("backend" in n["payload"] for n in _of(notes, "image.prepare"))
    assert any(n["payload"]["os_glance_importing_to_stores"] and n["payload"]["os_glance_failed_import"]
               for n in _of(notes, "image.upload", "INFO"))
    deletes = _of(notes, "image.delete")
    assert deletes and all(n["payload"]["deleted"] is True and n["payload"]["deleted_at"] for n in deletes)


def test_glance_notifier_with_driver_test_delivers_same_types():
    expected = {n["event_type"] for n in glance_notifications()}
    before = len(_impl_test.NOTIFICATIONS)
    try:
        with glance_notifier_with_driver("test", {"default_publisher_id": "image.glance-api-7"}) as notifier:
            emit_glance_events(notifier)
        got = [message for _c, message, _p, _r in _impl_test.NOTIFICATIONS[before:]]
    finally:
        del _impl_test.NOTIFICATIONS[before:]
    assert {m["event_type"] for m in got} == expected
    assert {m["publisher_id"] for m in got} == {"image.glance-api-7"}
    # Overrides are gone again.
    assert cfg.CONF.default_publisher_id == PUBLISHER_ID
    assert cfg.CONF.oslo_messaging_notifications.driver == []
    assert cfg.CONF.oslo_messaging_notifications.transport_url is None


def test_seed_notifications_follow_the_docs():
    seeds = seed_notifications()
    assert all(set(n) == ENVELOPE for n in seeds)
    assert set(DOCUMENTED_EVENT_TYPES) <= {n["event_type"] for n in seeds}
    priorities = Counter(n["priority"] for n in seeds)
    assert "info" in priorities and "Warn" in priorities
    assert any("." not in n["timestamp"] for n in seeds)
    assert any(isinstance(n["payload"], str) for n in _of(seeds, "image.delete", "INFO"))
    assert any(n["payload"]["destination_ip"] for n in _of(seeds, "image.send"))
    assert any(isinstance(n["payload"], dict) and n["payload"]["task_type"] == "import"
               for n in _of(seeds, "task.success"))
    assert seeds == seed_notifications()
