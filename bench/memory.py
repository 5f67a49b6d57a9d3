"""Worker memory: RSS of a `glance-kafka stream` worker holding --projects distinct projects.

    .venv/bin/python bench/memory.py [--projects 100000]

One image.send per project (owner = receiving project), so the table holds four rows per project
(served, downloaded and their 5-minute window buckets) plus the dedupe ring of message ids. RSS
(VmRSS from /proc) is read once the worker is ready and again once /metrics counts every
notification; the scrape time of /metrics with that state is noted too (project labels are capped
at 1,000, the rest folded into _other).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from _common import (
    Timer,
    broker,
    http_get,
    settings_for,
    start_worker,
    stop_pid,
    write_result,
)

from producers.publisher import Publisher
from streams.exposition import parse_metrics


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=100_000)
    args = parser.parse_args()
    n = args.projects
    start = datetime(2026, 1, 5, 8, 0, 0)
    with broker() as b, TemporaryDirectory() as tmp:
        settings = settings_for(b)
        with Timer() as t, Publisher(settings) as publisher:
            for i in range(n):
                project = f"{i:032x}"
                publisher.publish({
                    "message_id": f"mem-{i}", "publisher_id": "image.bench",
                    "event_type": "image.send", "priority": "INFO",
                    "timestamp": str(start + timedelta(milliseconds=i)),
                    "payload": {"image_id": f"img-{i}", "owner_id": project,
                                "receiver_tenant_id": project, "receiver_user_id": "u",
                                "bytes_sent": 1000 + i}})
        print(f"published {n:,} notifications for {n:,} projects in {t.seconds:.1f}s", flush=True)
        process, url = start_worker(settings, Path(tmp) / "worker.log")
        try:
            deadline = time.monotonic() + 60
            while http_get(url + "/ready")[0] != 200:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("worker not ready")
                time.sleep(0.1)
            idle = rss_mib(process.pid)
            began = time.monotonic()
            deadline = began + 300
            done = 0.0
            while time.monotonic() < deadline:
                status, text = http_get(url + "/metrics", timeout=30)
                if status == 200:
                    done = sum(parse_metrics(text).get("glance_notifications_total", {}).values())
                    if done >= n:
                        break
                time.sleep(1.0)
            took = time.monotonic() - began
            full = rss_mib(process.pid)
            with Timer() as scrape:
                status, text = http_get(url + "/metrics", timeout=60)
            series = text.count('\nglance_image_served_bytes_total{')
        finally:
            stop_pid(process)
    per_project = (full - idle) * 1024 / n
    print(f"\nworker RSS: {idle:,.0f} MiB ready and empty, {full:,.0f} MiB holding {n:,} projects "
          f"({per_project:.2f} KiB per project); state built in {took:.0f}s; "
          f"/metrics scrape {scrape.seconds * 1000:,.0f} ms ({series} served series after the "
          f"1,000-label cap)")
    write_result("memory", {"projects": n, "rss_ready_mib": idle, "rss_full_mib": full,
                            "kib_per_project": per_project, "processed": done,
                            "build_s": took, "scrape_ms": scrape.seconds * 1000})
    return 0 if done >= n else 1


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f}s)")
    sys.exit(code)
