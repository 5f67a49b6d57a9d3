"""Shared plumbing for the benchmark scripts: the broker, inputs, machine facts, result files.

Not a test module and not part of the package: each bench/*.py script imports it from its own
directory (`.venv/bin/python bench/publish.py` puts bench/ first on sys.path).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from producers.broker import EmbeddedBroker, free_port  # noqa: E402
from producers.config import Settings, load_settings  # noqa: E402
from producers.topics import ensure_topics  # noqa: E402
from streams.exposition import worker_command  # noqa: E402


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **result}, indent=2,
                               default=str) + "\n")
    print(f"\nresult written to {path.relative_to(ROOT)}")
    return path


@contextlib.contextmanager
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


def settings_for(b: EmbeddedBroker, prefix: str = "bench.") -> Settings:
    settings = load_settings(bootstrap_servers=b.bootstrap_servers, topic_prefix=prefix)
    ensure_topics(settings)
    return settings


def simulated(n: int, seed: int = 7, projects: int = 200) -> tuple[list[dict[str, Any]], Any]:
    """n realistic notifications from the simulator, and its ground truth for exactly them."""
    from streams.demo.simulator import TrafficGenerator

    gen = TrafficGenerator(seed=seed, projects=projects, images=3, rate=200.0)
    return gen.next_batch(n), gen.truth


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.start


def start_worker(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`glance-kafka stream` on free ports, logging to `log_path`; returns it and its metrics URL.

    Stop it with stop_pid()."""
    metrics_port, web_port = free_port(), free_port()
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(worker_command(settings, metrics_port, web_port),
                                   stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return process, f"http://127.0.0.1:{metrics_port}"


def stop_pid(process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGTERM the process we started (by pid), SIGKILL if it does not go."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def show(rows: list[tuple[str, float, str]]) -> None:
    width = max(len(label) for label, _, _ in rows)
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>12,.0f} /s  {note}")


__all__ = ["ROOT", "Settings", "Timer", "broker", "free_port", "http_get", "machine", "rate",
           "settings_for", "show", "simulated", "stop_pid", "write_result"]
