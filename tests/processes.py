"""Starting and stopping the product's own processes in tests, always by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from producers.broker import free_port
from producers.config import Settings
from streams.exposition import Metrics, parse_metrics, total, worker_command

__all__ = ["ROOT", "Worker", "parse_metrics", "running_workers", "total", "wait_for", "wait_stable"]

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    """`glance-kafka stream` as a subprocess on free ports."""

    def __init__(self, settings: Settings, log_dir: Path, name: str = "worker") -> None:
        self.settings = settings
        self.metrics_port = free_port()
        self.web_port = free_port()
        self.log_path = log_dir / f"{name}-{self.metrics_port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen(
            worker_command(self.settings, self.metrics_port, self.web_port),
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ})
        return self

    def url(self, path: str = "/metrics", web: bool = False) -> str:
        return f"http://127.0.0.1:{self.web_port if web else self.metrics_port}{path}"

    def get(self, path: str = "/metrics", web: bool = False) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path, web), timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> Metrics:
        status, text = self.get("/metrics")
        return parse_metrics(text) if status == 200 else {}

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.get("/ready")[0] == 200, timeout, f"{self} ready", self)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within 30 s; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"Worker(metrics={self.metrics_port}, pid={self.process.pid if self.process else None})"


def wait_for(condition: Callable[[], Any], timeout: float, what: str, worker: Worker | None = None,
             interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if worker is not None and worker.process is not None and worker.process.poll() is not None:
            raise AssertionError(f"{worker} exited ({worker.process.returncode}) waiting for {what}:"
                                 f"\n{worker.log_tail()}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f"\n{worker.log_tail()}" if worker else ""))


def wait_stable(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str,
                worker: Worker | None = None, quiet: float = 3.0, interval: float = 0.25) -> Any:
    """Wait until `done(read())` holds, then until `read()` stays the same for `quiet` seconds;
    returns that value. What arrives late (an over-count, a record delivered after the fact)
    changes the value within the quiet period and is seen, unlike after a fixed sleep."""
    deadline = time.monotonic() + timeout
    value = wait_for(lambda: (v := read()) and done(v) and (v,), timeout, what, worker, interval)[0]
    settled_at = time.monotonic()
    while time.monotonic() - settled_at < quiet:
        if time.monotonic() > deadline + quiet:
            raise AssertionError(f"{what}: never stable for {quiet}s")
        time.sleep(interval)
        again = read()
        if again != value:
            value, settled_at = again, time.monotonic()
    return value


@contextlib.contextmanager
def running_workers(*workers: Worker) -> Iterator[tuple[Worker, ...]]:
    try:
        for worker in workers:
            worker.start()
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def healthz_status(port: int) -> int:
    """A process's /healthz status code on 127.0.0.1; 0 if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
