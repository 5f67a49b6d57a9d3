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

from .inventory import gauges_of
from .metric_names import METRICS
from .rows import METRIC_OF, RowKey, keyed

OTHER_PROJECT = "_other"
#: Byte counters with a project label (their names end in the unit): what ranks projects.
_BYTE_METRICS = [m.name for m in METRIC_OF.values()
                 if m.project is not None and m.name.endswith("_bytes_total")]


def _family(name: str) -> Metric:
    spec = METRICS[name]
    if spec.kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), spec.help, labels=spec.labels)
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


def totals(rows: Iterable[tuple[str, Any]], owned: Callable[[int], bool]
           ) -> dict[str, dict[tuple[str, ...], int]]:
    """Sum rows over the owned partitions: {metric name: {label values: total}}."""
    return sums_of(keyed(rows, owned))


def sums_of(rows: Iterable[tuple[RowKey, Any]]) -> dict[str, dict[tuple[str, ...], int]]:
    out: dict[str, dict[tuple[str, ...], int]] = defaultdict(lambda: defaultdict(int))
    metric_of = METRIC_OF
    for key, value in rows:
        metric = metric_of.get(key.kind)
        if metric is not None:
            out[metric.name][key.labels] += value[0]
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
        rows = keyed(self.rows(), self.owned().__contains__)  # each key parsed once
        sums = sums_of(rows)
        inventory = gauges_of(rows)
        keep = self._labelled_projects(sums, inventory["glance_project_stored_bytes"])
        for name, series in inventory.items():
            family = _family(name)
            for labels, value in sorted(cap_projects(series, 0, keep).items()):
                family.add_metric(list(labels), value)
            yield family
        for metric in METRIC_OF.values():
            family = _family(metric.name)
            series = sums.get(metric.name, {})
            if metric.project is not None:
                series = cap_projects(series, metric.project, keep)
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
        for metric in METRIC_OF.values():
            if metric.project is None:
                continue
            for labels, value in sums.get(metric.name, {}).items():
                if metric.name in _BYTE_METRICS:
                    weight[labels[metric.project]] += value
                else:  # counted, but not bytes: labelled if there is room
                    weight.setdefault(labels[metric.project], 0)
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
