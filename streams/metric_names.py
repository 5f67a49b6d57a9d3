"""The metric families the stream workers export: names, types, labels and help.

Dashboards, alert rules and the chart's tests are checked against this table, and the
Collector builds its families from it, so a name can't drift between them.
"""

from __future__ import annotations

from typing import NamedTuple


class MetricSpec(NamedTuple):
    kind: str  # "counter" or "gauge", as exposed (counters carry the _total suffix)
    labels: tuple[str, ...]
    help: str


METRICS: dict[str, MetricSpec] = {
    "glance_image_served_bytes_total": MetricSpec(
        "counter", ("project", "outcome"),
        "Bytes of image data served, by owner project; outcome=complete|partial."),
    "glance_image_downloaded_bytes_total": MetricSpec(
        "counter", ("project", "outcome"),
        "Bytes of image data downloaded, by receiving project; outcome=complete|partial."),
    "glance_image_downloads_total": MetricSpec(
        "counter", ("outcome",), "Image downloads (image.send), by outcome."),
    "glance_task_events_total": MetricSpec(
        "counter", ("task_type", "status"), "Task notifications, by task type and status."),
    "glance_task_failures_total": MetricSpec(
        "counter", ("task_type", "project"), "task.failure notifications, by task type and owner."),
    "glance_notifications_total": MetricSpec(
        "counter", ("event_type", "priority"), "Notifications consumed, by event type and priority."),
    "glance_dead_letters_total": MetricSpec(
        "counter", ("reason",), "Records sent to the dead-letter topic, by reason."),
    "glance_duplicates_skipped_total": MetricSpec(
        "counter", (), "Notifications skipped because their message_id was already counted."),
    "glance_image_upload_failures_total": MetricSpec(
        "counter", ("reason",), "Failed uploads (ERROR image.upload), by reason class."),
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
