"""A worker's /ready before and after its partitions are assigned, glance_consumer_lag while it
works through a backlog, and its JSON views (/totals/, /projects/<project>/), against plain
sums over what was published.

On the embedded broker the high watermark is the base offset of the partition's last batch + 1,
not the log end (/work/shared/notes/embedded-broker.md), so the lag's size is not asserted:
only that it is above 0 while the worker is behind and exactly 0 once it has caught up (the
wrong watermark is never above the true end, and the product clamps at 0).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime

from producers.config import Settings
from producers.publisher import Publisher
from tests.expected import expected_metric_sums
from tests.integration.test_stream_exactness import synthetic_events
from tests.processes import Worker, running_workers, total, wait_stable

BACKLOG = 20_000
#: Ages at publication: under 50 min (in the last hour whenever the view is asked within 5 min),
#: or over 65 min (never in it).
RECENT_MAX, OLD_MIN = 3000, 3900


def _fresh(events: list[dict], now: float) -> list[tuple[dict, bool]]:
    out = []
    for i, n in enumerate(events):
        recent = i % 2 == 0
        age = (i * 37) % RECENT_MAX if recent else OLD_MIN + (i * 53) % 5000
        at = datetime.fromtimestamp(now - age, UTC).replace(tzinfo=None)
        out.append(({**n, "timestamp": str(at)}, recent))
    return out


def _json(worker: Worker, path: str) -> dict:
    with urllib.request.urlopen(worker.url(path, web=True), timeout=10) as response:
        return json.loads(response.read())


def test_ready_lag_and_views_of_a_worker_behind_a_backlog(settings: Settings, tmp_path) -> None:
    dated = _fresh(synthetic_events(BACKLOG, seed=21), time.time())
    events = [n for n, _ in dated]
    with Publisher(settings) as publisher:
        for n in events:
            publisher.publish(n)
    worker = Worker(settings, tmp_path)
    with running_workers(worker):
        # /ready answers 503 from the moment it listens until the group has assigned partitions
        statuses: list[int] = []
        deadline = time.monotonic() + 90
        while (not statuses or statuses[-1] != 200) and time.monotonic() < deadline:
            status = worker.get("/ready")[0]
            if status:
                statuses.append(status)
            time.sleep(0.05)
        assert statuses and statuses[0] == 503 and statuses[-1] == 200, Counter(statuses)
        assert set(statuses) == {503, 200}

        # behind the backlog: lag above 0 on some partition
        lags = []
        while time.monotonic() < deadline:
            metrics = worker.metrics()
            lags.append(total(metrics, "glance_consumer_lag"))
            if total(metrics, "glance_notifications_total") >= BACKLOG:
                break
            time.sleep(0.05)
        assert max(lags) > 0, lags

        # caught up: every notification counted, lag exactly 0, and it stays so
        def state() -> tuple[float, float, float]:
            metrics = worker.metrics()
            return (total(metrics, "glance_notifications_total"),
                    total(metrics, "glance_consumer_lag"),
                    total(metrics, "glance_worker_assigned_partitions"))

        assert wait_stable(state, lambda s: s[0] >= BACKLOG and s[1] == 0, 120, "caught up",
                           worker, quiet=2.0) == (BACKLOG, 0, 4)

        expected = expected_metric_sums(events)
        totals = _json(worker, "/totals/")
        assert {name: {tuple(row["labels"]): row["value"] for row in rows}
                for name, rows in totals.items()} == expected

        owner = Counter(n["payload"]["owner_id"] for n in events
                        if n["event_type"] == "image.send").most_common(1)[0][0]
        view = _json(worker, f"/projects/{owner}/")
    sends = [(n, recent) for n, recent in dated if n["event_type"] == "image.send"]
    served = Counter()
    for n, _ in sends:
        if n["payload"]["owner_id"] == owner:
            served["complete" if n["priority"] == "INFO" else "partial"] += n["payload"]["bytes_sent"]
    assert view["served_bytes"] == served
    assert view["last_hour"]["served_bytes"] == sum(
        n["payload"]["bytes_sent"] for n, recent in sends if recent and n["payload"]["owner_id"] == owner)
    assert 0 < view["last_hour"]["served_bytes"] < sum(served.values())
    assert sum(b.get("served_bytes", 0) for b in view["last_hour"]["buckets"].values()) == \
        view["last_hour"]["served_bytes"]
    assert view["partitions"] == [0, 1, 2, 3]
