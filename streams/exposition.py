"""Reading a worker from outside: its command line and its /metrics text as sums.

The demo, the integration tests and the benchmarks all start workers and read their totals back;
one definition here keeps them reading the same thing the same way.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from producers.config import Settings

#: metric name -> {sorted (label, value) pairs: sample value}
Metrics = dict[str, dict[tuple[tuple[str, str], ...], float]]


def worker_command(settings: Settings, metrics_port: int, web_port: int,
                   *extra: str) -> list[str]:
    """`glance-kafka stream` for this interpreter, on the given ports."""
    return [sys.executable, "-m", "producers", "stream", "--bootstrap-servers",
            settings.bootstrap_servers, "--topic-prefix", settings.topic_prefix,
            "--metrics-port", str(metrics_port), "--web-port", str(web_port), *extra]


def parse_metrics(text: str) -> Metrics:
    out: Metrics = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of one family's samples, over those carrying all of `labels`."""
    return sum(v for k, v in metrics.get(name, {}).items()
               if all(dict(k).get(a) == b for a, b in labels.items()))


def series(metrics: Metrics, name: str, *labels: str) -> Counter[Any]:
    """One family as a Counter keyed like the ground truth (a label tuple, or one label)."""
    out: Counter[Any] = Counter()
    for key, value in metrics.get(name, {}).items():
        values = tuple(dict(key)[label] for label in labels)
        out[values if len(values) != 1 else values[0]] += value
    return +out
