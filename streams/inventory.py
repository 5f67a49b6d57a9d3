"""Image inventory per project, from the lifecycle topics: images by status, bytes stored.

One row per image (`p3|img|<image id>`), on the partition its events share (they are all keyed
by the image id), holding its latest owner, status, size, visibility and disk format. An event
only changes a row if it is newer than what the row holds, by the image's `updated_at` and then
the envelope timestamp, so records arriving out of order across topics, or replayed, never roll
a size back; a deleted image stays deleted (a tombstone row: image ids are never reused). The
same per-topic source offsets as the aggregate rows make replays after a crash no-ops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from .aggregates import KafkaRecord, partition_of, row_key, split_key

LIFECYCLE = {"image.create", "image.prepare", "image.upload", "image.activate", "image.update",
             "image.delete"}


def _order(record: dict[str, Any]) -> list[Any]:
    payload = record["payload"]
    updated = payload.get("deleted_at") or payload.get("updated_at") or ""
    stamp = record["timestamp"]
    micros = int(stamp.timestamp() * 1_000_000) if hasattr(stamp, "timestamp") else int(stamp)
    return [updated, micros]


class Inventory:
    """Keeps the image rows; an Observer of the aggregator's batches."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self._pending: dict[str, list[Any]] = {}

    def observe(self, rec: KafkaRecord, record: dict[str, Any], event_type: str) -> None:
        payload = record["payload"]
        if event_type not in LIFECYCLE or not isinstance(payload, dict) or "id" not in payload:
            return  # text payloads (failed uploads) carry no size to invent
        key = row_key(rec.partition, "img", payload["id"])
        row = self._pending.get(key) or self.table.get(key)
        offsets = dict(row[1]) if row else {}
        if rec.offset <= offsets.get(rec.topic, -1):
            return  # replayed: this row already holds it
        offsets[rec.topic] = rec.offset
        state = dict(row[0]) if row else None
        order = _order(record)
        if state is None or (not state["deleted"] and order >= state["order"]):
            deleted = event_type == "image.delete" or bool(payload.get("deleted"))
            state = {"owner": payload.get("owner") or "_unknown", "status": payload.get("status"),
                     "size": payload.get("size"), "visibility": payload.get("visibility"),
                     "disk_format": payload.get("disk_format"), "deleted": deleted,
                     "order": order}
        self._pending[key] = [state, offsets]

    def flush(self) -> int:
        for key, row in self._pending.items():
            self.table[key] = row
        written = len(self._pending)
        self._pending = {}
        return written


def project_gauges(rows: Iterable[tuple[str, Any]], owned: Callable[[int], bool]
                   ) -> dict[str, Counter[tuple[str, ...]]]:
    """{metric: Counter(labels)} for the inventory gauges, over the owned partitions."""
    images: Counter[tuple[str, ...]] = Counter()
    stored: Counter[tuple[str, ...]] = Counter()
    by_format: Counter[tuple[str, ...]] = Counter()
    for key, value in rows:
        if not isinstance(key, str) or "|img|" not in key or not owned(partition_of(key)):
            continue
        state = value[0]
        if state["deleted"]:
            continue
        owner = state["owner"]
        images[(owner, state["status"] or "unknown")] += 1
        if state["size"] is not None:
            stored[(owner,)] += state["size"]
            by_format[(owner, state["disk_format"] or "unknown")] += state["size"]
    return {"glance_project_images": images, "glance_project_stored_bytes": stored,
            "glance_project_stored_bytes_by_disk_format": by_format}


def image_rows_of(rows: Iterable[tuple[str, Any]], project: str) -> list[dict[str, Any]]:
    """One project's live images (for the JSON view)."""
    out = []
    for key, value in rows:
        if isinstance(key, str) and "|img|" in key and value[0]["owner"] == project \
                and not value[0]["deleted"]:
            out.append({"id": split_key(key)[1], **{k: v for k, v in value[0].items()
                                                    if k not in ("order", "deleted")}})
    return out
