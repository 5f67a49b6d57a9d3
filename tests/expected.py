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
