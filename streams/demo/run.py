"""`glance-kafka demo`: the whole pipeline on one machine, with live Glance traffic.

Starts the embedded broker (or uses --bootstrap-servers), a stream worker subprocess, and drives
simulated cloud traffic through the real publishing path. The live view is read back from the
worker's /metrics, and at the end the totals there are checked against the simulator's ground
truth: the last line says `self-check passed`, or what differs (and the exit code is 1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from producers.broker import EmbeddedBroker, port_in_use
from producers.config import Settings
from producers.exceptions import ConfigurationError, GlanceKafkaError, InvalidNotification
from producers.options import DemoOptions
from producers.publisher import Publisher
from producers.topics import ensure_topics

from ..exposition import Metrics, parse_metrics, series, total, worker_command
from .live import human_bytes, render
from .simulator import TrafficGenerator, inject_duplicates, malformed_samples

DUPLICATE_RATE = 0.005
MALFORMED_RATE = 0.002
#: metric name -> (expected totals keyed like the ground truth, the metric's label names)
Expected = dict[str, tuple[Counter[Any], tuple[str, ...]]]


# -- reading the worker back ---------------------------------------------------------------------

def scrape(port: int) -> Metrics:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return parse_metrics(text)


# -- what was sent -------------------------------------------------------------------------------

@dataclass
class Sent:
    notifications: int = 0
    duplicates: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)


def expected_series(generator: TrafficGenerator, sent: Sent) -> Expected:
    truth = generator.truth
    return {
        "glance_image_served_bytes_total": (truth.served_bytes, ("project", "outcome")),
        "glance_image_downloaded_bytes_total": (truth.downloaded_bytes, ("project", "outcome")),
        "glance_image_downloads_total": (truth.downloads, ("outcome",)),
        "glance_task_events_total": (truth.task_events, ("task_type", "status")),
        "glance_task_failures_total": (truth.task_failures, ("task_type", "project")),
        "glance_notifications_total": (truth.notifications, ("event_type", "priority")),
        "glance_image_upload_failures_total": (truth.upload_failures, ("reason",)),
        "glance_dead_letters_total": (sent.dead_letters, ("reason",)),
        "glance_duplicates_skipped_total": (Counter({(): sent.duplicates}), ()),
        # The inventory: deleted images are gone from it.
        "glance_project_images": (
            Counter({k: v for k, v in truth.images_by_status().items() if k[1] != "deleted"}),
            ("project", "status")),
        "glance_project_stored_bytes": (truth.stored_bytes(), ("project",)),
        "glance_project_stored_bytes_by_disk_format": (truth.stored_bytes_by_disk_format(),
                                                       ("project", "disk_format")),
    }


def self_check(metrics: Metrics, expected: Expected) -> list[str]:
    """Every expected total against /metrics; returns the differences, one line each."""
    problems = []
    for name, (want, labels) in expected.items():
        got = series(metrics, name, *labels) if labels else Counter({(): total(metrics, name)})
        want = +Counter({k: float(v) for k, v in want.items()})
        got = +got
        for key in sorted(set(want) | set(got), key=str):
            if got[key] != want[key]:
                problems.append(f"{name}{list(key) if key != () else ''}: "
                                f"metrics {got[key]:.0f}, sent {want[key]:.0f}")
    return problems


# -- processes -----------------------------------------------------------------------------------

@contextlib.contextmanager
def worker_process(settings: Settings, metrics_port: int, web_port: int, log_path: Path,
                   label_limit: int) -> Iterator[subprocess.Popen[bytes]]:
    log = log_path.open("ab")
    process = subprocess.Popen(
        worker_command(settings, metrics_port, web_port, "--project-label-limit", str(label_limit)),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def _check_ports(options: DemoOptions) -> None:
    for port, option in ((options.metrics_port, "--metrics-port"),
                         (options.web_port, "--web-port"), (options.broker_port, "--broker-port")):
        if port is not None and port_in_use(port):
            raise ConfigurationError(f"port {port} on 127.0.0.1 is already in use; "
                                     f"choose another with {option}")


def _wait_ready(port: int, process: subprocess.Popen[bytes], log_path: Path,
                timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GlanceKafkaError(f"the stream worker exited ({process.returncode}); see {log_path}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
                f"http://127.0.0.1:{port}/ready", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    raise GlanceKafkaError(f"the stream worker was not ready within {timeout:.0f}s; see {log_path}")


# -- the demo ------------------------------------------------------------------------------------

def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_demo(settings: Settings, options: DemoOptions) -> int:
    """`settings` as given; with `options.embedded_broker` its bootstrap servers become the
    embedded broker's."""
    # Closing the terminal or a kill stops the demo like Ctrl-C does, so the broker and worker
    # it started (in sessions of their own) are stopped too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    console = Console(stderr=False)
    live_view = options.live and console.is_terminal
    _check_ports(options)
    workdir = Path(tempfile.mkdtemp(prefix="glance-kafka-demo-"))
    with contextlib.ExitStack() as stack:
        if not options.embedded_broker:
            console.print(f"Kafka: {settings.bootstrap_servers} (yours)")
        else:
            broker = stack.enter_context(EmbeddedBroker(port=options.broker_port or 9092))
            settings = dataclasses.replace(settings, bootstrap_servers=broker.bootstrap_servers)
            console.print(f"Kafka: embedded broker on {settings.bootstrap_servers} "
                          "(memory storage, stops with the demo)")
        created = ensure_topics(settings)
        console.print(f"topics: {settings.topic('<event_type>')}, {settings.other_topic}, "
                      f"{settings.dlq_topic} ({len(created)} created)")
        log_path = workdir / "worker.log"
        worker = stack.enter_context(worker_process(
            settings, options.metrics_port, options.web_port, log_path, max(1000, options.projects * 2)))
        console.print(f"stream worker pid {worker.pid}: metrics http://127.0.0.1:{options.metrics_port}"
                      f"/metrics, views http://127.0.0.1:{options.web_port}/projects/<project>/, "
                      f"log {log_path}")
        _wait_ready(options.metrics_port, worker, log_path)
        publisher = Publisher(settings, source="demo")
        # Simulated time starts now, so the worker's last-hour windows show the traffic.
        generator = TrafficGenerator(
            seed=options.seed, projects=options.projects, images=options.images_per_project,
            rate=options.rate, start=datetime.now(UTC).replace(tzinfo=None, microsecond=0))
        names = {p.id: p.name for p in generator.model.projects}
        sent = Sent()
        rng = random.Random(options.seed)
        view = Live(console=console, refresh_per_second=2, transient=False) if live_view else None
        if view is not None:
            stack.enter_context(view)
        interrupted = False
        start = time.monotonic()
        last_scrape = (start, 0.0)
        rate = 0.0

        def refresh(phase: str) -> Metrics:
            nonlocal last_scrape, rate
            metrics = scrape(options.metrics_port)
            now = time.monotonic()
            processed = total(metrics, "glance_notifications_total")
            if now > last_scrape[0]:
                rate = max(0.0, (processed - last_scrape[1]) / (now - last_scrape[0]))
            last_scrape = (now, processed)
            if view is not None:
                view.update(render(metrics, sent, now - start, rate, phase, names))
            else:
                console.print(f"{now - start:5.0f}s {phase}: sent {sent.notifications}, "
                              f"processed {processed:.0f} ({rate:,.0f}/s)")
            return metrics

        try:
            next_refresh = start
            while time.monotonic() - start < options.duration:
                tick = time.monotonic()
                due = int(options.rate * (tick - start)) - sent.notifications
                if due > 0:
                    batch = generator.next_batch(due)
                    delivered = inject_duplicates(batch, DUPLICATE_RATE, rng)
                    for notification in delivered:
                        publisher.publish(notification)
                    sent.notifications += len(batch)
                    sent.duplicates += len(delivered) - len(batch)
                    for reason, raw in malformed_samples(rng, _poisson(rng, due * MALFORMED_RATE)):
                        with contextlib.suppress(InvalidNotification):
                            publisher.publish(raw)
                        sent.dead_letters[reason] += 1
                publisher.poll(0)
                if tick >= next_refresh:
                    refresh("sending")
                    next_refresh = tick + (1.0 if view is not None else 5.0)
                time.sleep(0.02)
        except KeyboardInterrupt:
            interrupted = True
        publisher.flush(60)
        expected = expected_series(generator, sent)
        want = sum(generator.truth.notifications.values())
        deadline = time.monotonic() + 60
        metrics = refresh("catching up")
        while time.monotonic() < deadline and (self_check(metrics, expected)):
            time.sleep(0.5)
            metrics = refresh("catching up")
        metrics = refresh("done")
        if view is not None:
            view.stop()
        problems = self_check(metrics, expected)
        served = total(metrics, "glance_image_served_bytes_total")
        console.print(
            f"summary: {sent.notifications} notifications ({want} unique counted), "
            f"{sent.duplicates} duplicates, {sum(sent.dead_letters.values())} malformed; "
            f"{human_bytes(served)} served in "
            f"{total(metrics, 'glance_image_downloads_total'):.0f} downloads"
            + (" (interrupted)" if interrupted else ""))
        if problems:
            for line in problems[:20]:
                console.print(f"  differs: {line}")
            console.print(f"self-check FAILED: {len(problems)} totals differ (worker log: {log_path})")
            return 1
        console.print("self-check passed")
        return 0


def _poisson(rng: random.Random, mean: float) -> int:
    """Malformed inputs arrive at random, on average `mean` per tick."""
    count, threshold, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count
