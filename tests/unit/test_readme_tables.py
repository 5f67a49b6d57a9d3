"""The README documents every metric the product exports and every exit code, and nothing else."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from producers.bridge import Bridge
from producers.config import Settings
from producers.exceptions import EXIT_CODES
from streams.metric_names import METRICS
from tests.processes import ROOT

README = (ROOT / "README.md").read_text()


def _table(first_header: str) -> list[list[str]]:
    """The rows of the README table whose first column is headed `first_header`."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _documented(first_header: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for name, labels, *_ in _table(first_header):
        assert re.fullmatch(r"`[a-z_]+`", name), name
        out[name.strip("`")] = tuple(x.strip() for x in labels.split(",") if x.strip())
    return out


def test_every_stream_worker_metric_is_documented_with_its_labels_and_nothing_else() -> None:
    documented = _documented("Metric")
    assert set(documented) - set(METRICS) == set(), "documented but not exported"
    assert set(METRICS) - set(documented) == set(), "exported but not documented"
    for name, spec in METRICS.items():
        assert documented[name] == spec.labels, name


def test_every_bridge_metric_is_documented() -> None:
    registry = CollectorRegistry()
    bridge = Bridge(Settings(bootstrap_servers="127.0.0.1:1"), registry=registry)
    try:
        exported = {}
        for family in registry.collect():
            name = family.name + ("_total" if family.type == "counter" else "")
            exported[name] = tuple(sorted({k for s in family.samples for k in s.labels}))
    finally:
        bridge.consumer.close()
    documented = _documented("Bridge metric")
    assert set(documented) == set(exported)
    for name, labels in documented.items():
        assert tuple(sorted(labels)) == exported[name], name


def test_exit_codes_in_the_readme_are_the_ones_the_cli_uses() -> None:
    rows = _table("Exit code")
    assert {int(code): what for code, what in rows} == EXIT_CODES
