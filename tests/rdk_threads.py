"""How many librdkafka instances this process holds, counted from its threads' names.

Imported by the Glance-like scripts of tests/integration/test_driver_process.py (run with the
project on PYTHONPATH). librdkafka starts and ends broker threads as it connects, so a thread
listed in /proc may be gone before its name is read: it is skipped, not an error (an error here
once ended a forked child before it reported).
"""

from __future__ import annotations

import os
import time


def _names() -> list[str]:
    tasks = f"/proc/{os.getpid()}/task"
    names = []
    for tid in os.listdir(tasks):
        try:
            with open(f"{tasks}/{tid}/comm") as comm:
                names.append(comm.read().strip())
        except FileNotFoundError:
            continue
    return names


def rdk_main_threads(looks: int = 4, interval: float = 0.2) -> int:
    """A thread librdkafka just started carries its creator's name (rdk:main) until it names
    itself: the fewest of a few looks is the number of librdkafka instances."""
    counts = []
    for _ in range(looks):
        counts.append(_names().count("rdk:main"))
        time.sleep(interval)
    return min(counts)
