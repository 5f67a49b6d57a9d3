"""The Faust table that holds every aggregate row."""

from __future__ import annotations

from typing import Any

import faust

from .aggregates import partition_of


class PartitionScopedTable(faust.Table):
    """A table whose keys name their own partition (`p3|...`).

    Faust writes a row's changelog record to the partition of the event being processed; a batch
    mixes partitions, so the partition is taken from the key instead. Rows then move with their
    source partition on a rebalance, and can be written (or expired) outside an event.
    """

    def partition_for_key(self, key: Any) -> int | None:
        return partition_of(key)

    def _send_changelog(self, event: Any, key: Any, value: Any, key_serializer: Any = None,
                        value_serializer: Any = None) -> None:
        self.send_changelog(partition_of(key[1] if isinstance(key, tuple) else key), key, value,
                            key_serializer, value_serializer)

    def rows(self) -> list[tuple[str, Any]]:
        """A snapshot of every row, safe to take from another thread (the scrape thread)."""
        return list(self.data.data.items())
