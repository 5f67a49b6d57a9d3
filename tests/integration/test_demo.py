"""`glance-kafka demo` end to end: broker, worker, traffic, live numbers, self-check."""

from __future__ import annotations

import socket
import subprocess
import sys

from producers.broker import free_port
from tests.processes import ROOT


def _demo(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "producers", "demo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_runs_end_to_end_and_its_self_check_passes() -> None:
    done = _demo("--duration", "10", "--broker-port", str(free_port()), "--metrics-port",
                 str(free_port()), "--web-port", str(free_port()), "--rate", "400")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "self-check passed"
    summary = next(line for line in lines if line.startswith("summary:"))
    sent = int(summary.split()[1])
    assert sent >= 400 * 7  # the traffic really flowed for the duration


def test_demo_port_in_use_is_a_clear_one_line_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _demo("--duration", "1", "--metrics-port", str(port), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"glance-kafka demo: error: port {port} on 127.0.0.1 is already in use; "
        "choose another with --metrics-port")


def test_demo_stops_what_it_started_when_killed() -> None:
    """SIGTERM or SIGHUP (terminal closed): the broker and worker it started stop with it."""
    import os
    import signal
    import time

    import psutil

    ports = [str(free_port()) for _ in range(3)]
    process = subprocess.Popen(
        [sys.executable, "-m", "producers", "demo", "--duration", "60", "--no-live",
         "--broker-port", ports[0], "--metrics-port", ports[1], "--web-port", ports[2]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        children: list = []
        while time.monotonic() < deadline and len(children) < 2:
            children = psutil.Process(process.pid).children(recursive=True)
            time.sleep(0.5)
        assert len(children) >= 2, "the demo did not start its broker and worker"
        while time.monotonic() < deadline:  # the worker is serving: the demo is mid-run
            try:
                socket.create_connection(("127.0.0.1", int(ports[1])), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the demo's worker never served /metrics")
        os.kill(process.pid, signal.SIGHUP)
        process.wait(timeout=60)
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
