"""Inventory gauges from a real worker equal the history's ground truth, through a kill -9."""

from __future__ import annotations

import pytest

from producers.config import Settings
from tests.integration.test_stream_exactness import SteadyPublisher
from tests.lifecycle import lifecycle_history
from tests.processes import Worker, running_workers, total, wait_for, wait_stable


def _gauges(metrics: dict) -> dict:
    out = {}
    for name, labels in (("glance_project_images", ("project", "status")),
                         ("glance_project_stored_bytes", ("project",)),
                         ("glance_project_staged_bytes", ("project",)),
                         ("glance_project_stored_bytes_by_disk_format", ("project", "disk_format"))):
        out[name] = {tuple(dict(k)[label] for label in labels): v
                     for k, v in metrics.get(name, {}).items() if v}
    return out


@pytest.mark.slow
def test_inventory_gauges_survive_sigkill_and_equal_ground_truth(settings: Settings,
                                                                 tmp_path) -> None:
    history, truth = lifecycle_history(images=1500, projects=40, seed=21)
    duplicated = history + history[::50]  # redelivered copies, same message ids
    publisher = SteadyPublisher(settings, duplicated, rate=1500)
    first, second = Worker(settings, tmp_path, "first"), Worker(settings, tmp_path, "second")
    with running_workers(first):
        first.wait_ready()
        publisher.start()
        wait_for(lambda: total(first.metrics(), "glance_notifications_total") >= len(history) * 0.4,
                 60, "40% processed", first)
        first.kill()
    with running_workers(second):
        second.wait_ready()
        publisher.join(120)
        assert publisher.error is None
        metrics = wait_stable(second.metrics, lambda m: total(
            m, "glance_notifications_total") >= len(history), 120, "all processed", second,
            quiet=2.0)
        assert total(metrics, "glance_notifications_total") == len(history)
        assert total(metrics, "glance_duplicates_skipped_total") == len(history[::50])
        expected = {name: {k: float(v) for k, v in counter.items() if v}
                    for name, counter in truth.items()}
        assert _gauges(metrics) == expected
