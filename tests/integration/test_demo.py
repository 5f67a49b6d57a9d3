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
    done = _demo("--duration", "20", "--broker-port", str(free_port()), "--metrics-port",
                 str(free_port()), "--web-port", str(free_port()), "--rate", "400")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "self-check passed"
    summary = next(line for line in lines if line.startswith("summary:"))
    sent = int(summary.split()[1])
    assert sent >= 400 * 15  # the traffic really flowed for the duration


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
