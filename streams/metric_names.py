"""The metric families the stream workers export: names, types, labels and help.

Dashboards, alert rules and the chart's tests are checked against this table, and the
Collector builds its families from it, so a name can't drift between them. The counters summed
from the aggregate rows are declared with their rows, in streams/rows.py.
"""

from __future__ import annotations

from typing import NamedTuple

from .rows import METRIC_OF


class MetricSpec(NamedTuple):
    kind: str  # "counter" or "gauge", as exposed (counters carry the _total suffix)
    labels: tuple[str, ...]
    help: str


#: The aggregate rows' counters (streams/rows.py), then the metrics computed otherwise.
METRICS: dict[str, MetricSpec] = {
    **{metric.name: MetricSpec("counter", metric.labels, metric.help)
       for metric in METRIC_OF.values()},
    "glance_project_images": MetricSpec(
        "gauge", ("project", "status"), "Images known per owner project, by status."),
    "glance_project_stored_bytes": MetricSpec(
        "gauge", ("project",), "Bytes in the backends per owner project: image size times the stores "
        "holding it, as Glance's image_size_total quota counts it (not killed/deleted)."),
    "glance_project_staged_bytes": MetricSpec(
        "gauge", ("project",), "Bytes in the staging area per owner project (images uploading or "
        "importing, copies pending), as Glance's image_stage_total quota counts it."),
    "glance_project_stored_bytes_by_disk_format": MetricSpec(
        "gauge", ("project", "disk_format"), "glance_project_stored_bytes by disk format."),
    "glance_replays_skipped_total": MetricSpec(
        "counter", (), "Records re-delivered (after a restart or rebalance) that every row already held; "
        "this worker process only."),
    "glance_consumer_lag": MetricSpec(
        "gauge", ("topic", "partition"), "Records not yet processed, per source partition."),
    "glance_worker_assigned_partitions": MetricSpec(
        "gauge", (), "Source partitions this worker owns; 0 until the group has assigned them."),
}
