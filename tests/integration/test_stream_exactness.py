"""Totals stay exact through SIGKILL of a worker mid-stream, and through a second worker joining.

Measured before the idempotent rows: a naive Faust table counter over-counted by 10-11% in both
scenarios. Here the metrics must equal the ground truth exactly.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from producers.config import Settings
from producers.publisher import Publisher
from tests.expected import METRIC_OF, expected_totals
from tests.processes import Worker, running_workers, total, wait_for, wait_stable

EVENTS = 20_000


def synthetic_events(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """Downloads (3% partial) over 60 projects and 400 images, and import tasks (10% failing)."""
    rng = random.Random(seed)
    projects = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(60)]
    images = [(str(uuid.UUID(int=rng.getrandbits(128))), rng.choice(projects),
               rng.randrange(10**6, 3 * 2**31)) for _ in range(400)]
    out = []
    for i in range(n):
        ts = f"2026-11-25 08:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}.{i % 1000000:06d}"
        if i % 10 == 9:
            task_id = str(uuid.UUID(int=rng.getrandbits(128)))
            failed = rng.random() < 0.1
            event = "task.failure" if failed else "task.success"
            payload = {"id": task_id, "type": "api_image_import", "status": event.split(".")[1],
                       "result": None, "owner": rng.choice(projects), "message": None,
                       "expires_at": "2026-11-27T08:00:00Z", "created_at": "2026-11-25T08:00:00Z",
                       "updated_at": "2026-11-25T08:00:01Z", "deleted": False, "deleted_at": None}
            priority = "INFO"
        else:
            image_id, owner, size = images[min(int(rng.paretovariate(1.2)) - 1, 399)]
            partial = rng.random() < 0.03
            event, priority = "image.send", "ERROR" if partial else "INFO"
            payload = {"bytes_sent": rng.randrange(size) if partial else size, "image_id": image_id,
                       "owner_id": owner, "receiver_tenant_id": rng.choice(projects),
                       "receiver_user_id": uuid.UUID(int=rng.getrandbits(128)).hex}
        out.append({"message_id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "publisher_id": "image.host1", "event_type": event, "priority": priority,
                    "timestamp": ts, "payload": payload})
    return out


class SteadyPublisher(threading.Thread):
    """Publishes a list at a steady rate from a thread, like Glance would."""

    def __init__(self, settings: Settings, notifications: list[dict[str, Any]], rate: float):
        super().__init__(daemon=True)
        self.settings, self.notifications, self.rate = settings, notifications, rate
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            start = time.monotonic()
            with Publisher(self.settings) as publisher:
                for i, n in enumerate(self.notifications):
                    publisher.publish(n)
                    if i % 200 == 0:
                        ahead = i / self.rate - (time.monotonic() - start)
                        if ahead > 0:
                            time.sleep(ahead)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def summed(*workers: Worker) -> dict[str, dict]:
    out: dict[str, Counter] = {}
    for worker in workers:
        for name, series in worker.metrics().items():
            out.setdefault(name, Counter()).update(series)
    return out


def assert_exact(metrics: dict[str, Counter], expected: dict[str, Counter]) -> None:
    for kind, counter in expected.items():
        name, labels = METRIC_OF[kind]
        got = Counter()
        for key, value in metrics.get(name, {}).items():
            got[tuple(dict(key)[label] for label in labels)] += value
        got = +got
        assert got == Counter({k: float(v) for k, v in counter.items()}), name


def _scenario(settings: Settings, tmp_path, seed: int
              ) -> tuple[dict[str, Counter], SteadyPublisher, Worker, Worker]:
    """EVENTS events to publish at a steady 2,500/s, their expected totals, and two workers."""
    events = synthetic_events(EVENTS, seed=seed)
    return (expected_totals(events), SteadyPublisher(settings, events, rate=2500),
            Worker(settings, tmp_path, "first"), Worker(settings, tmp_path, "second"))


def _publish_until_30_percent(publisher: SteadyPublisher, first: Worker) -> None:
    first.wait_ready()
    publisher.start()
    wait_for(lambda: total(first.metrics(), "glance_notifications_total") >= EVENTS * 0.3,
             60, "30% processed", first)


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_is_exact(settings: Settings, tmp_path) -> None:
    expected, publisher, first, second = _scenario(settings, tmp_path, seed=3)
    with running_workers(first):
        _publish_until_30_percent(publisher, first)
        first.kill()  # SIGKILL: no flush, no commit
    counted_before = None
    with running_workers(second):
        second.wait_ready()
        publisher.join(120)
        assert publisher.error is None
        # anything over-counted would change the totals within the quiet period
        metrics = wait_stable(second.metrics, lambda m: total(
            m, "glance_notifications_total") >= EVENTS, 120, "all processed", second, quiet=3.0)
        counted_before = total(metrics, "glance_replays_skipped_total")
        assert total(metrics, "glance_notifications_total") == EVENTS
        assert_exact(metrics, expected)
    # The restart really replayed records the first worker had applied but not committed.
    assert counted_before and counted_before > 0


@pytest.mark.slow
def test_second_worker_joining_mid_stream_keeps_summed_totals_exact(settings: Settings,
                                                                    tmp_path) -> None:
    expected, publisher, first, second = _scenario(settings, tmp_path, seed=5)
    with running_workers(first):
        _publish_until_30_percent(publisher, first)
        with running_workers(second):
            second.wait_ready(90)
            publisher.join(120)
            assert publisher.error is None
            metrics = wait_stable(lambda: summed(first, second), lambda m: total(
                m, "glance_notifications_total") >= EVENTS and first.get("/ready")[0] == 200,
                120, "all processed by the two", second, quiet=3.0)
            owned = [total(w.metrics(), "glance_worker_assigned_partitions") for w in (first, second)]
            assert sorted(owned) == [2, 2]  # the partitions (and their rows) were split
            assert_exact(metrics, expected)
