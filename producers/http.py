"""The small HTTP endpoint every long-running command serves: /metrics, /healthz, /ready.

Kubernetes probes and Prometheus scrape the same port; readiness means 'doing its job' (for a
stream worker: it owns partitions), liveness only that the process still answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .exceptions import ConfigurationError


class StatusServer:
    """Serves a registry's metrics and two probes on host:port, from a daemon thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 ready: Callable[[], bool] = lambda: True,
                 healthy: Callable[[], bool] = lambda: True) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok = outer.healthy()
                    self._reply(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n")
                elif path == "/ready":
                    ok = outer.ready()
                    self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._reply(404, b"not found: try /metrics, /healthz or /ready\n")

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes are not news
                pass

        self.registry = registry
        self.ready = ready
        self.healthy = healthy
        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}); "
                "choose another with --metrics-port") from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="status-http",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> StatusServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
