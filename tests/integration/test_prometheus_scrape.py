"""A real Prometheus server (Debian's package) scrapes a worker; PromQL returns the exact total."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request

from producers.broker import free_port
from producers.config import Settings
from producers.publisher import Publisher
from tests.glance_events import glance_notifications
from tests.processes import Worker, running_workers, total, wait_for


def _query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return []
    return body["data"]["result"] if body.get("status") == "success" else []


def test_prometheus_scrapes_the_worker(settings: Settings, tmp_path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run `bash scripts/ensure-system-deps`"
    sent = glance_notifications()
    served = sum(n["payload"]["bytes_sent"] for n in sent if n["event_type"] == "image.send")
    with Publisher(settings) as publisher:
        for n in sent:
            publisher.publish(n)

    worker = Worker(settings, tmp_path)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: glance-kafka\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{worker.metrics_port}']\n")
    with running_workers(worker):
        worker.wait_ready()
        wait_for(lambda: total(worker.metrics(), "glance_notifications_total") == len(sent), 60,
                 "worker caught up", worker)
        prometheus = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
        try:
            result = wait_for(lambda: _query(port, "sum(glance_image_served_bytes_total)"), 60,
                              "a PromQL answer")
            assert float(result[0]["value"][1]) == served
            up = _query(port, 'up{job="glance-kafka"}')
            assert up and up[0]["value"][1] == "1"
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=20)
