"""Prometheus families read from the aggregate table at scrape time.

Values come from the (changelog-backed) table, not from process counters, so a restarted worker
reports the totals it had; rows of partitions this worker does not own are left out, so
`sum by (project)` over replicas is exact. Project labels are capped: the projects with the
most bytes keep their own label, the rest are folded into project="_other", so totals stay exact
while the number of series stays bounded.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .aggregates import partition_of, split_key
from .inventory import project_gauges
from .metric_names import METRICS

OTHER_PROJECT = "_other"

#: Row kind -> (metric name, index of the project label or None).
ROW_METRICS: dict[str, tuple[str, int | None]] = {
    "served": ("glance_image_served_bytes_total", 0),
    "downloaded": ("glance_image_downloaded_bytes_total", 0),
    "downloads": ("glance_image_downloads_total", None),
    "task_events": ("glance_task_events_total", None),
    "task_failures": ("glance_task_failures_total", 1),
    "notifications": ("glance_notifications_total", None),
    "dead_letters": ("glance_dead_letters_total", None),
    "duplicates": ("glance_duplicates_skipped_total", None),
    "upload_failures": ("glance_image_upload_failures_total", None),
}


def _family(name: str) -> Metric:
    spec = METRICS[name]
    if spec.kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), spec.help, labels=spec.labels)
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


def totals(rows: Iterable[tuple[str, Any]], owned: Callable[[int], bool]
           ) -> dict[str, dict[tuple[str, ...], int]]:
    """Sum rows over the owned partitions: {metric name: {label values: total}}."""
    out: dict[str, dict[tuple[str, ...], int]] = defaultdict(lambda: defaultdict(int))
    for key, value in rows:
        if not isinstance(key, str) or not owned(partition_of(key)):
            continue
        kind, *labels = split_key(key)
        metric = ROW_METRICS.get(kind)
        if metric is not None:
            out[metric[0]][tuple(labels)] += value[0]
    return out


def cap_projects(series: Mapping[tuple[str, ...], int], index: int,
                 keep: set[str]) -> dict[tuple[str, ...], int]:
    """Fold every project outside `keep` into _other."""
    out: dict[tuple[str, ...], int] = defaultdict(int)
    for labels, value in series.items():
        if labels[index] not in keep:
            labels = (*labels[:index], OTHER_PROJECT, *labels[index + 1:])
        out[labels] += value
    return out


class TableCollector(Collector):
    """Builds the metric families from the aggregate table on every scrape."""

    def __init__(self, rows: Callable[[], Iterable[tuple[str, Any]]],
                 owned: Callable[[], set[int]], *, project_label_limit: int = 1000,
                 extra: Callable[[], Iterable[Metric]] | None = None) -> None:
        self.rows = rows
        self.owned = owned
        self.project_label_limit = project_label_limit
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        rows = list(self.rows())
        owned = self.owned().__contains__
        sums = totals(rows, owned)
        inventory = project_gauges(rows, owned)
        keep = self._labelled_projects(sums, inventory["glance_project_stored_bytes"])
        for name, series in inventory.items():
            family = _family(name)
            for labels, value in sorted(cap_projects(series, 0, keep).items()):
                family.add_metric(list(labels), value)
            yield family
        for name, project_index in ROW_METRICS.values():
            family = _family(name)
            series = sums.get(name, {})
            if project_index is not None:
                series = cap_projects(series, project_index, keep)
            for labels, value in sorted(series.items()):
                family.add_metric(list(labels), value)
            yield family
        if self.extra is not None:
            yield from self.extra()

    def _labelled_projects(self, sums: Mapping[str, Mapping[tuple[str, ...], int]],
                           stored: Mapping[tuple[str, ...], int]) -> set[str]:
        """The projects with the most bytes (served + downloaded + stored), up to the limit."""
        weight: dict[str, int] = defaultdict(int)
        for (project,), value in stored.items():
            weight[project] += value
        for name in ("glance_image_served_bytes_total", "glance_image_downloaded_bytes_total"):
            for labels, value in sums.get(name, {}).items():
                weight[labels[0]] += value
        for labels in sums.get("glance_task_failures_total", {}):
            weight.setdefault(labels[1], 0)
        if len(weight) <= self.project_label_limit:
            return set(weight)
        # Only the top of the ranking is needed: with 100,000 projects a full sort was most of
        # a scrape's time.
        return set(heapq.nsmallest(self.project_label_limit, weight,
                                   key=lambda p: (-weight[p], p)))


def computed(name: str, samples: Iterable[tuple[list[str], float]]) -> Metric:
    """A family of the table's type (counter or gauge) from samples computed by the caller."""
    family = _family(name)
    for labels, value in samples:
        family.add_metric(labels, value)
    return family
