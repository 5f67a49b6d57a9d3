"""Expected metric totals, computed straight from the notifications sent (not by the product)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def expected_totals(notifications: list[dict[str, Any]]) -> dict[str, Counter]:
    """Unique notifications (first of each message_id) -> {metric: Counter(label tuple)}."""
    seen: set[str] = set()
    out: dict[str, Counter] = {name: Counter() for name in (
        "served", "downloaded", "downloads", "task_events", "task_failures", "notifications")}
    for n in notifications:
        if n["message_id"] in seen:
            continue
        seen.add(n["message_id"])
        priority = n["priority"].upper().replace("WARNING", "WARN")
        out["notifications"][(n["event_type"], priority)] += 1
        payload = n["payload"]
        if n["event_type"] == "image.send" and isinstance(payload, dict) and priority != "WARN":
            outcome = "complete" if priority == "INFO" else "partial"
            out["served"][(payload["owner_id"], outcome)] += payload["bytes_sent"]
            out["downloaded"][(payload["receiver_tenant_id"], outcome)] += payload["bytes_sent"]
            out["downloads"][(outcome,)] += 1
        if n["event_type"].startswith("task.") and isinstance(payload, dict):
            task_type = payload.get("type") or payload.get("task_type")
            out["task_events"][(task_type, payload["status"])] += 1
            if n["event_type"] == "task.failure":
                out["task_failures"][(task_type, payload["owner"])] += 1
    return out


#: expected_totals' kinds -> (the metric each is exported as, its labels in expected_totals' order).
METRIC_OF = {
    "served": ("glance_image_served_bytes_total", ("project", "outcome")),
    "downloaded": ("glance_image_downloaded_bytes_total", ("project", "outcome")),
    "downloads": ("glance_image_downloads_total", ("outcome",)),
    "task_events": ("glance_task_events_total", ("task_type", "status")),
    "task_failures": ("glance_task_failures_total", ("task_type", "project")),
    "notifications": ("glance_notifications_total", ("event_type", "priority")),
}


def expected_metric_sums(notifications: list[dict[str, Any]]) -> dict[str, dict[tuple, int]]:
    """expected_totals by metric name, leaving out empty ones: {metric: {label values: total}}."""
    return {METRIC_OF[kind][0]: dict(counter)
            for kind, counter in expected_totals(notifications).items() if counter}
