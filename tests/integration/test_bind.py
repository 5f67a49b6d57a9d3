"""The metrics and web endpoints listen on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import socket

from producers.config import Settings
from tests.processes import Worker, running_workers


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_worker_binds_loopback_only_by_default(settings: Settings, tmp_path) -> None:
    worker = Worker(settings, tmp_path)
    with running_workers(worker):
        worker.wait_ready()
        for port in (worker.metrics_port, worker.web_port):
            assert _connects("127.0.0.1", port)
            # 127.0.0.2 is this machine too: only a wildcard bind would answer there
            assert not _connects("127.0.0.2", port), port
