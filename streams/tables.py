"""The Faust table that holds every aggregate row."""

from __future__ import annotations

from typing import Any

import faust

from .rows import partition_of


class PartitionScopedTable(faust.Table):
    """A table whose keys name their own partition (`p3|...`).

    Faust declares its changelog topic, co-partitions it with the source topics and restores it
    on every assignment; the rows themselves are written by `streams.changelog`, to the partition
    their key names, so they move with their source partition on a rebalance.
    """

    def partition_for_key(self, key: Any) -> int | None:
        return partition_of(key)

    def rows(self) -> list[tuple[str, Any]]:
        """A snapshot of every row, safe to take from another thread (the scrape thread)."""
        return list(self.data.data.items())
