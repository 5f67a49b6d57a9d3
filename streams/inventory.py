"""Image inventory per project, from the lifecycle topics: images by status, bytes stored, staged.

Stored and staged bytes mean what Glance's own quota accounting means (glance.db's
user_get_storage_usage / user_get_staging_usage, the image_size_total / image_stage_total
limits): an image stores its size once per backend location, for any status but killed, deleted
and pending_delete; data staged for glance-direct (status uploading or importing, or a copy still
listed in os_glance_importing_to_stores) is staged, not stored. Locations are not in Glance's
payloads, so a row counts its successful writes instead: each store Glance writes the data to
sends one INFO image.upload (a plain upload, each store of a multi-store import, each copy-image
target); an active or deactivated image whose uploads were never seen counts one.

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

from .aggregates import KafkaRecord
from .rows import Kind, RowKey, key_text, keyed

LIFECYCLE = {"image.create", "image.prepare", "image.upload", "image.activate", "image.update",
             "image.delete"}
#: Statuses Glance's quota accounting leaves out (glance/db/sqlalchemy/api.py).
NOT_COUNTED = {"killed", "deleted", "pending_delete"}
STAGING = {"uploading", "importing"}
HAS_DATA = {"active", "deactivated"}


def _importing_to_stores(payload: dict[str, Any]) -> bool:
    """Whether a copy is still pending: the image property (what Glance's accounting reads) when
    the payload has it, else the list image.prepare/upload carry beside it."""
    properties = payload.get("properties")
    if isinstance(properties, dict) and "os_glance_importing_to_stores" in properties:
        return bool(properties["os_glance_importing_to_stores"])
    return bool(payload.get("os_glance_importing_to_stores"))


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
        key = key_text(rec.partition, Kind.IMG, payload["id"])
        row = self._pending.get(key) or self.table.get(key)
        offsets = dict(row[1]) if row else {}
        if rec.offset <= offsets.get(rec.topic, -1):
            return  # replayed: this row already holds it
        offsets[rec.topic] = rec.offset
        state = dict(row[0]) if row else None
        # counted whatever order the topics arrive in: each one is one more location
        stores = (state or {}).get("stores", 0) + (
            event_type == "image.upload" and record["priority"] == "INFO")
        order = _order(record)
        if state is None or (not state["deleted"] and order >= state["order"]):
            deleted = event_type == "image.delete" or bool(payload.get("deleted"))
            state = {"owner": payload.get("owner") or "_unknown", "status": payload.get("status"),
                     "size": payload.get("size"), "visibility": payload.get("visibility"),
                     "disk_format": payload.get("disk_format"), "deleted": deleted,
                     "importing": _importing_to_stores(payload), "order": order}
        state["stores"] = stores
        self._pending[key] = [state, offsets]

    def flush(self) -> int:
        for key, row in self._pending.items():
            self.table[key] = row
        written = len(self._pending)
        self._pending = {}
        return written


def stored_and_staged(state: dict[str, Any]) -> tuple[int, int]:
    """(bytes stored in the backends, bytes in the staging area) of one image row, as Glance's
    image_size_total and image_stage_total accounting count them."""
    size, status = state["size"] or 0, state["status"]
    if state["deleted"] or size <= 0 or status in NOT_COUNTED:
        return 0, 0
    locations = state.get("stores", 0) or (1 if status in HAS_DATA else 0)
    # rows written before staging was tracked carry no "importing"
    staged = status in STAGING or bool(state.get("importing"))
    return size * locations, size if staged else 0


def project_gauges(rows: Iterable[tuple[str, Any]], owned: Callable[[int], bool]
                   ) -> dict[str, Counter[tuple[str, ...]]]:
    """{metric: Counter(labels)} for the inventory gauges, over the owned partitions."""
    return gauges_of(keyed(rows, owned))


def gauges_of(rows: Iterable[tuple[RowKey, Any]]) -> dict[str, Counter[tuple[str, ...]]]:
    images: Counter[tuple[str, ...]] = Counter()
    stored: Counter[tuple[str, ...]] = Counter()
    staged: Counter[tuple[str, ...]] = Counter()
    by_format: Counter[tuple[str, ...]] = Counter()
    for key, value in rows:
        if key.kind is not Kind.IMG:
            continue
        state = value[0]
        if state["deleted"]:
            continue
        owner = state["owner"]
        images[(owner, state["status"] or "unknown")] += 1
        in_store, in_staging = stored_and_staged(state)
        if in_store:
            stored[(owner,)] += in_store
            by_format[(owner, state["disk_format"] or "unknown")] += in_store
        if in_staging:
            staged[(owner,)] += in_staging
    return {"glance_project_images": images, "glance_project_stored_bytes": stored,
            "glance_project_staged_bytes": staged,
            "glance_project_stored_bytes_by_disk_format": by_format}


def image_rows_of(rows: Iterable[tuple[RowKey, Any]], project: str) -> list[dict[str, Any]]:
    """One project's live images (for the JSON view)."""
    out = []
    for key, value in rows:
        if key.kind is Kind.IMG and value[0]["owner"] == project and not value[0]["deleted"]:
            out.append({"id": key.labels[0], **{k: v for k, v in value[0].items()
                                                if k not in ("order", "deleted")}})
    return out
